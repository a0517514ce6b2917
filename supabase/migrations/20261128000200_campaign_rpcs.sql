-- Campaign state machine, delivery counters and the pg-boss jobs that drive the worker.
--
-- Errors use PostgREST's convention: SQLSTATE 'PT' || http status, so the same RPC answers
-- 404 / 409 / 422 whether called by our Edge Functions or through PostgREST.
--
-- Lock order, everywhere: campaign row, then its delivery rows, then pgboss.job rows.
-- The worker's claim takes the same order, so user actions and sends never deadlock.

-- One delivery queue per Telegram account: a worker works only the queues of the accounts
-- whose session it holds, so a session is never used from two processes.
create function private.delivery_queue(p_account_id uuid) returns text
language sql immutable as $$ select 'delivery.' || p_account_id::text $$;

-- Queue policy. Transient Telegram failures are retried by the worker itself at exactly
-- 5/10/20 s (pg-boss's backoff adds jitter); pg-boss's own retry only recovers jobs whose
-- worker died (missed heartbeat or expiry), which is safe because every attempt reuses the
-- delivery's random_id.
create function private.delivery_queue_options() returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    'policy', 'standard',
    'retryLimit', 10,
    'retryDelay', 1,
    'retryBackoff', false,
    'expireInSeconds', 120,
    'heartbeatSeconds', 10,
    'retentionSeconds', 7 * 24 * 3600,
    'deleteAfterSeconds', 7 * 24 * 3600,
    'notify', true
  )
$$;

create function private.telegram_accounts_queue() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform pgboss.create_queue(private.delivery_queue(new.id), private.delivery_queue_options());
  return null;
end $$;
create trigger telegram_accounts_queue after insert on public.telegram_accounts
  for each row execute function private.telegram_accounts_queue();

-- Wakes FLOOD_WAIT-paused campaigns when the wait is over (data: { accountId }).
select pgboss.create_queue('campaign-resume', jsonb_build_object(
  'policy', 'standard', 'retryLimit', 10, 'retryDelay', 5, 'retryBackoff', false,
  'expireInSeconds', 60, 'notify', true));

-- pg-boss's NOTIFY channel for schema 'pgboss' (plans.js notifyChannelSql).
create function private.pgboss_notify_channel() returns text
language sql immutable as $$
  select 'pgboss_' || left(encode(sha224('pgboss'::bytea), 'hex'), 24)
$$;

create function private.random_id_for(p_delivery_id uuid) returns bigint
language sql immutable as $$
  select coalesce(nullif(('x' || left(md5(p_delivery_id::text), 16))::bit(64)::bigint, 0), 1)
$$;

create function private.require_user() returns uuid
language plpgsql stable set search_path = '' as $$
declare
  v uuid := auth.uid();
begin
  if v is null then
    raise exception 'not authenticated' using errcode = 'PT401';
  end if;
  return v;
end $$;

create function private.audit(p_owner uuid, p_action text, p_entity text, p_id uuid,
  p_before jsonb, p_after jsonb) returns void
language sql security definer set search_path = '' as $$
  insert into public.audit_log (owner_id, actor, action, entity, entity_id, before, after)
  values (p_owner, auth.uid(), p_action, p_entity, p_id, p_before, p_after)
$$;

-- Inserts jobs into one queue exactly as boss.send() would: every column boss.send() fills
-- comes from the queue's policy (a test compares the two column by column), and workers are
-- woken by the same NOTIFY. p_jobs: [{ id, data, groupId }].
create function private.insert_jobs(p_queue text, p_jobs jsonb, p_start_after timestamptz default null)
returns integer
language plpgsql security definer set search_path = '' as $$
declare
  q pgboss.queue;
  n integer;
  v_start timestamptz := greatest(coalesce(p_start_after, pgboss.job_now()), pgboss.job_now());
begin
  select * into q from pgboss.queue where name = p_queue;
  if not found then
    raise exception 'queue % does not exist', p_queue;
  end if;
  insert into pgboss.job (
    id, name, data, priority, start_after, created_on, singleton_key, singleton_on,
    group_id, group_tier, expire_seconds, deletion_seconds, keep_until, retry_limit,
    retry_delay, retry_backoff, retry_delay_max, policy, dead_letter, heartbeat_seconds,
    blocked, blocking, pending_dependencies, trace_context)
  select coalesce((j ->> 'id')::uuid, gen_random_uuid()), q.name, j -> 'data', 0, v_start,
    pgboss.job_now(), null, null, j ->> 'groupId', null, q.expire_seconds, q.deletion_seconds,
    v_start + q.retention_seconds * interval '1s', q.retry_limit, q.retry_delay, q.retry_backoff,
    q.retry_delay_max, q.policy, q.dead_letter, q.heartbeat_seconds, false, false, 0, null
  from jsonb_array_elements(p_jobs) j;
  get diagnostics n = row_count;
  if n > 0 and q.notify and v_start <= pgboss.job_now() then
    perform pg_notify(private.pgboss_notify_channel(), q.name);
  end if;
  return n;
end $$;

-- One job per pending delivery of the list that has no live job; the job's id is recorded on
-- the delivery, and only that job may act on it.
create function private.enqueue_deliveries(p_delivery_ids uuid[], p_start_after timestamptz default null)
returns integer
language plpgsql security definer set search_path = '' as $$
declare
  r record;
  n integer := 0;
  v_groups jsonb;
begin
  with todo as (
      select d.id, d.campaign_id, c.account_id, gen_random_uuid() as job_id
      from public.deliveries d
      join public.campaigns c on c.id = d.campaign_id
      where d.id = any (p_delivery_ids)
        and d.state = 'pending'
        and not exists (
          select 1 from pgboss.job j
          where j.name = private.delivery_queue(c.account_id) and j.id = d.job_id
            and j.state in ('created', 'retry', 'active'))
      order by d.id
      for update of d
    ), upd as (
      update public.deliveries d set job_id = t.job_id,
        next_attempt_at = greatest(coalesce(p_start_after, now()), now())
      from todo t where d.id = t.id
      returning t.*
    )
  select coalesce(jsonb_agg(g), '[]') into v_groups from (
    select private.delivery_queue(account_id) as queue,
      jsonb_agg(jsonb_build_object('id', job_id, 'groupId', campaign_id::text,
        'data', jsonb_build_object('deliveryId', id, 'campaignId', campaign_id, 'accountId', account_id))
        order by id) as jobs
    from upd group by account_id
  ) g;
  for r in select * from jsonb_to_recordset(v_groups) as x (queue text, jobs jsonb) loop
    n := n + private.insert_jobs(r.queue, r.jobs, p_start_after);
  end loop;
  return n;
end $$;

-- Cancels the waiting jobs of a campaign (paused or cancelled); active jobs finish and are
-- turned away by the claim because the campaign no longer runs.
create function private.cancel_campaign_jobs(p_campaign_id uuid, p_account_id uuid) returns void
language sql security definer set search_path = '' as $$
  update pgboss.job set state = 'cancelled', completed_on = pgboss.job_now()
  where name = private.delivery_queue(p_account_id)
    and group_id = p_campaign_id::text
    and state in ('created', 'retry')
$$;

-- A campaign that runs with nothing left to send is complete (resumed after its last send).
create function private.complete_if_done(p_campaign_id uuid) returns void
language sql security definer set search_path = '' as $$
  update public.campaigns set state = 'completed', completed_at = clock_timestamp()
  where id = p_campaign_id and state = 'running' and pending_count = 0
$$;

create function private.enqueue_campaign(p_campaign public.campaigns) returns integer
language sql security definer set search_path = '' as $$
  select private.enqueue_deliveries(
    array(select id from public.deliveries where campaign_id = p_campaign.id and state = 'pending'),
    greatest(
      p_campaign.scheduled_at,
      (select a.flood_wait_until from public.telegram_accounts a where a.id = p_campaign.account_id)))
$$;

-- Counters move with the delivery rows in the same statement, so they cannot drift; the
-- campaign completes when its last pending delivery settles and pauses itself when a failure
-- takes it past max_errors (counted since the owner last resumed such a pause).
-- Completion and send times use clock_timestamp(): a worker's batch transaction began before
-- its sends, and now() would date them too early.
create function private.deliveries_count_insert() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  update public.campaigns c set
    total_count = c.total_count + x.n,
    pending_count = c.pending_count + x.pending,
    sent_count = c.sent_count + x.sent,
    failed_count = c.failed_count + x.failed,
    cancelled_count = c.cancelled_count + x.cancelled
  from (
    select campaign_id, count(*)::int as n,
      count(*) filter (where state = 'pending')::int as pending,
      count(*) filter (where state = 'sent')::int as sent,
      count(*) filter (where state = 'failed')::int as failed,
      count(*) filter (where state = 'cancelled')::int as cancelled
    from new_rows group by campaign_id
  ) x
  where c.id = x.campaign_id;
  return null;
end $$;

create function private.deliveries_count_update() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  with x as (
    select n.campaign_id,
      sum((n.state = 'pending')::int - (o.state = 'pending')::int)::int as dp,
      sum((n.state = 'sent')::int - (o.state = 'sent')::int)::int as ds,
      sum((n.state = 'failed')::int - (o.state = 'failed')::int)::int as df,
      sum((n.state = 'cancelled')::int - (o.state = 'cancelled')::int)::int as dc
    from old_rows o join new_rows n on n.id = o.id
    where o.state <> n.state
    group by n.campaign_id
  ), before as (
    select c.* from public.campaigns c join x on x.campaign_id = c.id
  ), upd as (
    update public.campaigns c set
      pending_count = c.pending_count + x.dp,
      sent_count = c.sent_count + x.ds,
      failed_count = c.failed_count + x.df,
      cancelled_count = c.cancelled_count + x.dc,
      state = case
        when c.state = 'running' and c.pending_count + x.dp = 0 then 'completed'
        when c.state = 'running' and x.df > 0 and c.max_errors is not null
          and c.failed_count + x.df - c.failed_at_resume > c.max_errors then 'paused'
        else c.state end,
      pause_reason = case
        when c.state = 'running' and c.pending_count + x.dp > 0 and x.df > 0 and c.max_errors is not null
          and c.failed_count + x.df - c.failed_at_resume > c.max_errors then 'error_threshold'
        else c.pause_reason end,
      completed_at = case
        when c.state = 'running' and c.pending_count + x.dp = 0 then clock_timestamp()
        else c.completed_at end
    from x
    where c.id = x.campaign_id
    returning c.*
  )
  insert into public.audit_log (owner_id, actor, action, entity, entity_id, before, after)
  select u.owner_id, auth.uid(),
    case when u.state = 'completed' then 'complete' else 'auto_pause' end,
    'campaigns', u.id,
    jsonb_build_object('state', b.state),
    jsonb_build_object('state', u.state, 'pauseReason', u.pause_reason,
      'sent', u.sent_count, 'failed', u.failed_count)
  from upd u join before b on b.id = u.id
  where u.state is distinct from b.state;

  -- a campaign that paused itself stops drawing jobs
  perform private.cancel_campaign_jobs(c.id, c.account_id)
  from public.campaigns c
  where c.id in (select campaign_id from new_rows)
    and c.state = 'paused' and c.pause_reason = 'error_threshold';
  return null;
end $$;

create trigger deliveries_count_insert after insert on public.deliveries
  referencing new table as new_rows
  for each statement execute function private.deliveries_count_insert();
create trigger deliveries_count_update after update on public.deliveries
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.deliveries_count_update();

-- Renders {{name}} placeholders in one pass (a value containing "{{x}}" stays as it is) and
-- returns the text and the names it had no value for (left in place). In an HTML template the
-- values are escaped, so a variable cannot inject markup; Markdown and plain text take them as
-- is. Text and result are bounded by Telegram's 4096 characters, which also bounds the work a
-- caller can ask of the database (each value may repeat hundreds of times).
create function public.render_template(p_text text, p_variables jsonb default '{}',
  p_parse_mode text default 'plain')
returns table (text text, missing text[])
language plpgsql immutable set search_path = '' as $$
declare
  v_placeholder constant text := '(\{\{\s*([A-Za-z0-9_.-]+)\s*\}\})';
  v_max constant integer := 4096;
  v_parts text[];
  v_found text[];
  v_names text[];
  v_out text;
  v_piece text;
  v_val text;
  v_missing text[] := '{}';
begin
  if p_variables is not null and jsonb_typeof(p_variables) <> 'object' then
    raise exception 'variables must be an object of names to values' using errcode = 'PT422',
      detail = '{"field":"variables"}';
  end if;
  if char_length(p_text) > v_max then
    raise exception 'the text is longer than % characters', v_max using errcode = 'PT422',
      detail = '{"field":"text"}';
  end if;
  v_parts := regexp_split_to_array(p_text, v_placeholder);
  select coalesce(array_agg(m[1] order by n), '{}'), coalesce(array_agg(m[2] order by n), '{}')
    into v_found, v_names
  from regexp_matches(p_text, v_placeholder, 'g') with ordinality as t (m, n);
  v_out := v_parts[1];
  for i in 1 .. cardinality(v_names) loop
    v_val := coalesce(p_variables, '{}') ->> v_names[i];
    if v_val is null then
      v_missing := v_missing || v_names[i];
      v_piece := v_found[i];
    elsif p_parse_mode = 'html' then
      v_piece := replace(replace(replace(replace(v_val, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;');
    else
      v_piece := v_val;
    end if;
    v_out := v_out || v_piece || v_parts[i + 1];
    if char_length(v_out) > v_max then
      raise exception 'the message with its variables filled in is longer than % characters', v_max
        using errcode = 'PT422', detail = '{"field":"variables"}';
    end if;
  end loop;
  return query select v_out, array(select distinct x from unnest(v_missing) x order by 1);
end $$;

-- Locks the caller's campaign for a state change and refuses the change unless the campaign is
-- in one of p_from: 404 for a campaign that is not the caller's, 409 naming both states.
create function private.campaign_for_action(p_campaign_id uuid, p_action text, p_from text[], p_to text)
returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns;
begin
  select * into c from public.campaigns
  where id = p_campaign_id and owner_id = private.require_user()
  for update;
  if not found then
    raise exception 'campaign not found' using errcode = 'PT404';
  end if;
  if not (c.state = any (p_from)) then
    raise exception 'cannot % campaign: it is %; % goes from % to %', p_action, c.state, p_action,
      array_to_string(p_from, ' or '), p_to
      using errcode = 'PT409',
        detail = jsonb_build_object('from', c.state, 'to', p_to, 'action', p_action)::text;
  end if;
  return c;
end $$;

-- Audit row of a campaign state change: state and pause reason before and after.
create function private.audit_transition(p_action text, p_before public.campaigns, p_after public.campaigns)
returns void
language sql security definer set search_path = '' as $$
  select private.audit(p_before.owner_id, p_action, 'campaigns', p_before.id,
    jsonb_build_object('state', p_before.state, 'pauseReason', p_before.pause_reason),
    jsonb_build_object('state', p_after.state, 'pauseReason', p_after.pause_reason))
$$;

create function public.create_campaign(
  p_name text,
  p_channel_ids uuid[] default null,
  p_batch_ids uuid[] default null,
  p_template_id uuid default null,
  p_message jsonb default null,
  p_variables jsonb default null,
  p_account_id uuid default null,
  p_rate_per_minute integer default null,
  p_max_errors integer default null,
  p_scheduled_at timestamptz default null
) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_uid uuid := private.require_user();
  t public.templates;
  v_text text;
  v_missing text[];
  v_parse text;
  v_silent boolean;
  v_preview boolean;
  v_account uuid;
  v_unknown uuid[];
  v_targets uuid[];
  c public.campaigns;
begin
  if (p_template_id is null) = (p_message is null) then
    raise exception 'give exactly one of templateId and message' using errcode = 'PT422',
      detail = '{"field":"templateId"}';
  end if;
  if p_template_id is not null then
    select * into t from public.templates where id = p_template_id and owner_id = v_uid;
    if not found then
      raise exception 'template % not found', p_template_id using errcode = 'PT422', detail = '{"field":"templateId"}';
    end if;
    v_text := t.text; v_parse := t.parse_mode; v_silent := t.silent; v_preview := t.link_preview;
  else
    if jsonb_typeof(p_message) <> 'object' or jsonb_typeof(p_message -> 'text') <> 'string' then
      raise exception 'message.text is required' using errcode = 'PT422', detail = '{"field":"message.text"}';
    end if;
    v_text := p_message ->> 'text';
    v_parse := coalesce(p_message ->> 'parseMode', 'plain');
    v_silent := coalesce((p_message ->> 'silent')::boolean, false);
    v_preview := coalesce((p_message ->> 'linkPreview')::boolean, true);
  end if;
  select r.text, r.missing into v_text, v_missing from public.render_template(v_text, p_variables, v_parse) r;
  if cardinality(v_missing) > 0 then
    raise exception 'missing template variables: %', array_to_string(v_missing, ', ')
      using errcode = 'PT422', detail = '{"field":"variables"}';
  end if;

  if p_account_id is not null then
    select id into v_account from public.telegram_accounts where id = p_account_id and owner_id = v_uid;
    if not found then
      raise exception 'account % not found', p_account_id using errcode = 'PT422', detail = '{"field":"accountId"}';
    end if;
  else
    select id into v_account from public.telegram_accounts
    where owner_id = v_uid and status <> 'disabled' order by created_at, id limit 1;
    if not found then
      raise exception 'no Telegram account: add one first (POST /accounts)' using errcode = 'PT422',
        detail = '{"field":"accountId"}';
    end if;
  end if;

  v_unknown := array(
    select x from unnest(coalesce(p_channel_ids, '{}')) x
    where not exists (select 1 from public.channels ch where ch.id = x and ch.owner_id = v_uid));
  if cardinality(v_unknown) > 0 then
    raise exception 'unknown channelIds: %', array_to_string(v_unknown, ', ') using errcode = 'PT422',
      detail = '{"field":"channelIds"}';
  end if;
  v_unknown := array(
    select x from unnest(coalesce(p_batch_ids, '{}')) x
    where not exists (select 1 from public.batches b where b.id = x and b.owner_id = v_uid));
  if cardinality(v_unknown) > 0 then
    raise exception 'unknown batchIds: %', array_to_string(v_unknown, ', ') using errcode = 'PT422',
      detail = '{"field":"batchIds"}';
  end if;

  v_targets := array(
    select x from unnest(coalesce(p_channel_ids, '{}')) x
    union
    select bc.channel_id from public.batch_channels bc
    where bc.batch_id = any (coalesce(p_batch_ids, '{}')) and bc.owner_id = v_uid);
  if cardinality(v_targets) = 0 then
    raise exception 'campaign has no targets: give channelIds or non-empty batchIds'
      using errcode = 'PT422', detail = '{"field":"channelIds"}';
  end if;
  if cardinality(v_targets) > 100000 then
    raise exception 'campaign has % targets; at most 100000', cardinality(v_targets)
      using errcode = 'PT422', detail = '{"field":"channelIds"}';
  end if;

  insert into public.campaigns (owner_id, name, account_id, template_id, message_text, parse_mode,
    silent, link_preview, rate_per_minute, max_errors, scheduled_at)
  values (v_uid, p_name, v_account, p_template_id, v_text, v_parse, v_silent, v_preview,
    p_rate_per_minute, p_max_errors, p_scheduled_at)
  returning * into c;

  insert into public.deliveries (id, campaign_id, owner_id, channel_id, peer, random_id)
  select d.id, c.id, v_uid, d.channel_id, d.peer, private.random_id_for(d.id)
  from (
    select gen_random_uuid() as id, ch.id as channel_id, ch.peer, ch.created_at
    from public.channels ch
    where ch.id = any (v_targets) and ch.owner_id = v_uid
  ) d
  order by d.created_at, d.channel_id;

  select * into c from public.campaigns where id = c.id;
  perform private.audit(v_uid, 'create', 'campaigns', c.id, null, to_jsonb(c));
  return c;
end $$;

create function public.start_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_to text := case
    when (select scheduled_at from public.campaigns where id = p_campaign_id) > now() then 'scheduled'
    else 'running' end;
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'start', '{draft}', v_to);
  v_after public.campaigns;
begin
  update public.campaigns set state = v_to,
    started_at = case when v_to = 'running' then now() end
  where id = c.id returning * into v_after;
  perform private.enqueue_campaign(v_after);
  perform private.audit_transition('start', c, v_after);
  return v_after;
end $$;

create function public.pause_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'pause', '{running,scheduled}', 'paused');
  v_after public.campaigns;
begin
  update public.campaigns set state = 'paused', pause_reason = 'manual', resume_at = null
  where id = c.id returning * into v_after;
  perform private.cancel_campaign_jobs(c.id, c.account_id);
  perform private.audit_transition('pause', c, v_after);
  return v_after;
end $$;

-- Resumes a paused campaign, whatever paused it. Sends wait for the account's FLOOD_WAIT to
-- end, if one is in force, rather than provoking Telegram again. A campaign paused for its
-- account (reason 'account'): after PEER_FLOOD the owner decides the limit has passed, so the
-- account is active again (the worker notices on its next account refresh); a revoked session
-- cannot be resumed from here, only by logging in again.
create function public.resume_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  -- The account row first, as the worker locks it (account, then its campaigns): no deadlock
  -- with a batch that stops the account while the owner resumes.
  v_account public.telegram_accounts := (
    select a from public.telegram_accounts a join public.campaigns x on x.account_id = a.id
    where x.id = p_campaign_id and x.owner_id = auth.uid() and x.pause_reason = 'account'
    for no key update of a);
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'resume', '{paused}', 'running');
  v_after public.campaigns;
begin
  if c.pause_reason = 'account' then
    select * into v_account from public.telegram_accounts where id = c.account_id for no key update;
    if v_account.status = 'revoked' then
      raise exception 'cannot resume campaign: the Telegram session of account % was revoked (%); log in again with `npm run login`, put the new session in the worker''s TELEGRAM_ACCOUNTS and restart the worker',
        v_account.id, coalesce(v_account.status_reason, 'no reason given')
        using errcode = 'PT409',
          detail = jsonb_build_object('from', c.state, 'to', 'running', 'action', 'resume',
            'accountStatus', v_account.status)::text;
    end if;
    if v_account.status = 'peer_flood' then
      update public.telegram_accounts set status = 'active', status_reason = null where id = v_account.id;
      perform private.audit(c.owner_id, 'reactivate', 'telegram_accounts', v_account.id,
        jsonb_build_object('status', v_account.status, 'statusReason', v_account.status_reason),
        jsonb_build_object('status', 'active'));
    end if;
  end if;
  -- Paused before its time: back to waiting for it. Past an error_threshold pause, max_errors
  -- counts anew from here (the owner has seen the failures).
  update public.campaigns set
    state = case when scheduled_at > now() then 'scheduled' else 'running' end,
    pause_reason = null, resume_at = null,
    started_at = case when scheduled_at > now() then null else coalesce(started_at, now()) end,
    failed_at_resume = case when c.pause_reason = 'error_threshold' then failed_count else failed_at_resume end
  where id = c.id returning * into v_after;
  perform private.enqueue_campaign(v_after);
  perform private.complete_if_done(c.id);
  select * into v_after from public.campaigns where id = c.id;
  perform private.audit_transition('resume', c, v_after);
  return v_after;
end $$;

create function public.cancel_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'cancel',
    '{draft,scheduled,running,paused}', 'cancelled');
  v_after public.campaigns;
begin
  update public.campaigns set state = 'cancelled', pause_reason = null, resume_at = null,
    completed_at = now()
  where id = c.id;
  update public.deliveries set state = 'cancelled', next_attempt_at = null
  where campaign_id = c.id and state = 'pending';
  perform private.cancel_campaign_jobs(c.id, c.account_id);
  select * into v_after from public.campaigns where id = c.id;
  perform private.audit_transition('cancel', c, v_after);
  return v_after;
end $$;

-- Puts failed deliveries back to pending with fresh attempts; the same random_id is kept,
-- so a target that in fact received the message is not posted to twice.
create function public.retry_failed_deliveries(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'retry-failed',
    '{running,paused,completed}', 'running');
  v_after public.campaigns;
begin
  if c.failed_count = 0 then
    raise exception 'campaign % has no failed deliveries to retry', c.id using errcode = 'PT409',
      detail = jsonb_build_object('from', c.state, 'to', c.state, 'action', 'retry-failed')::text;
  end if;
  if c.state = 'completed' then
    update public.campaigns set state = 'running', completed_at = null where id = c.id;
  end if;
  -- the retried failures no longer count against max_errors
  update public.campaigns set failed_at_resume = 0 where id = c.id;
  update public.deliveries set state = 'pending', attempts = 0, error_code = null,
    error_message = null, job_id = null
  where campaign_id = c.id and state = 'failed';
  select * into v_after from public.campaigns where id = c.id;
  if v_after.state = 'running' then
    perform private.enqueue_campaign(v_after);
  end if;
  perform private.audit_transition('retry_failed', c, v_after);
  return v_after;
end $$;

-- Bulk import with per-item errors; one bad peer does not reject the others.
create function public.import_channels(p_peers text[]) returns jsonb
language plpgsql security invoker set search_path = '' as $$
declare
  v_uid uuid := private.require_user();
  v_created integer := 0;
  v_duplicates integer := 0;
  v_errors jsonb := '[]';
  v_peer text;
  v_norm text;
  i integer;
begin
  if cardinality(p_peers) > 1000 then
    raise exception 'at most 1000 peers per import, got %', cardinality(p_peers) using errcode = 'PT413';
  end if;
  for i in 1 .. coalesce(cardinality(p_peers), 0) loop
    v_peer := p_peers[i];
    begin
      v_norm := public.normalize_peer(v_peer);
      if v_norm is null then
        raise exception 'peer is empty' using errcode = '22023';
      end if;
      insert into public.channels (owner_id, peer) values (v_uid, v_norm)
      on conflict (owner_id, peer) do nothing;
      if found then v_created := v_created + 1; else v_duplicates := v_duplicates + 1; end if;
    exception when sqlstate '22023' then
      v_errors := v_errors || jsonb_build_object('index', i - 1, 'peer', v_peer, 'message', sqlerrm);
    end;
  end loop;
  return jsonb_build_object('created', v_created, 'duplicates', v_duplicates, 'errors', v_errors);
end $$;

-- Replaces a batch's members in one statement pair; RLS and the composite keys refuse
-- other owners' batches or channels.
create function public.set_batch_channels(p_batch_id uuid, p_channel_ids uuid[]) returns integer
language plpgsql security invoker set search_path = '' as $$
declare
  v_uid uuid := private.require_user();
  v_unknown uuid[];
  n integer;
begin
  -- touching the batch locks it and dates the membership change
  update public.batches set updated_at = clock_timestamp() where id = p_batch_id;
  if not found then
    raise exception 'batch not found' using errcode = 'PT404';
  end if;
  v_unknown := array(select x from unnest(coalesce(p_channel_ids, '{}')) x
    where not exists (select 1 from public.channels c where c.id = x));
  if cardinality(v_unknown) > 0 then
    raise exception 'unknown channelIds: %', array_to_string(v_unknown, ', ') using errcode = 'PT422',
      detail = '{"field":"channelIds"}';
  end if;
  delete from public.batch_channels where batch_id = p_batch_id;
  insert into public.batch_channels (batch_id, channel_id, owner_id)
  select distinct p_batch_id, x, v_uid from unnest(coalesce(p_channel_ids, '{}')) x;
  get diagnostics n = row_count;
  return n;
end $$;

-- Grants: users call the campaign RPCs; the private helpers are not theirs to call.
revoke execute on all functions in schema private from public, anon, authenticated;
grant execute on function private.require_user() to authenticated, service_role;
revoke execute on function public.create_campaign, public.start_campaign, public.pause_campaign,
  public.resume_campaign, public.cancel_campaign, public.retry_failed_deliveries,
  public.import_channels, public.set_batch_channels, public.render_template from public, anon;
grant execute on function public.create_campaign, public.start_campaign, public.pause_campaign,
  public.resume_campaign, public.cancel_campaign, public.retry_failed_deliveries,
  public.import_channels, public.set_batch_channels, public.render_template
  to authenticated, service_role;
