-- Actions on sent posts: edit (a new message version), delete and pin/unpin each post of a
-- campaign. One row per post and action (public.delivery_actions) is claimed through a pg-boss job
-- in the account's own queue (group 'actions'), so actions share the account's pace with sends and
-- settle exactly like deliveries: only the job recorded on a row may settle it. docs/architecture.md
-- ("Actions on sent posts") and docs/decisions.md explain the guarantees.

alter table public.campaigns
  add column message_version integer not null default 1 check (message_version >= 1),
  -- When the message last changed: a send claimed before it went out with the old text.
  add column message_changed_at timestamptz,
  -- Seconds (the API speaks ISO 8601 durations): each post is deleted that long after its send.
  add column delete_after_s integer check (delete_after_s between 1 and 31622400),
  -- Not null: every post is pinned once sent (silently or not); unpin_after_s unpins it later.
  add column pin_silent boolean,
  add column unpin_after_s integer check (unpin_after_s between 1 and 31622400),
  add column action_counts jsonb not null default '{}',
  add constraint campaigns_unpin_check check (unpin_after_s is null or pin_silent is not null);

create table public.delivery_actions (
  id uuid primary key default gen_random_uuid(),
  delivery_id uuid not null references public.deliveries (id) on delete cascade,
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  kind text not null check (kind in ('edit', 'delete', 'pin', 'unpin')),
  -- The message version an edit applies (each post is edited at most once per version).
  version integer check ((kind = 'edit') = (version is not null)),
  silent boolean not null default false,
  state text not null default 'pending' check (state in ('pending', 'done', 'failed', 'cancelled')),
  due_at timestamptz not null default now(),
  job_id uuid,
  attempts integer not null default 0 check (attempts >= 0),
  error_code text check (char_length(error_code) <= 100),
  error_message text check (char_length(error_message) <= 1000),
  done_at timestamptz,
  created_at timestamptz not null default now()
);
create unique index delivery_actions_edit_once on public.delivery_actions (delivery_id, version) where kind = 'edit';
create unique index delivery_actions_delete_once on public.delivery_actions (delivery_id)
  where kind = 'delete' and state <> 'cancelled';
create index delivery_actions_campaign on public.delivery_actions (campaign_id, state, kind);
create index delivery_actions_delivery on public.delivery_actions (delivery_id, kind, created_at desc);

alter table public.delivery_actions enable row level security;
create policy owner_read on public.delivery_actions for select to authenticated
  using (owner_id = (select auth.uid()));
grant select on public.delivery_actions to authenticated;
grant select, insert, update, delete on public.delivery_actions to service_role;

-- ---------------------------------------------------------------- input

/** An ISO 8601 duration of weeks, days, hours, minutes and seconds (PT24H, P2D), 1 s to 366 days. */
create function private.duration_of(p_value jsonb, p_field text) returns interval
language plpgsql immutable set search_path = '' as $$
declare
  v text := p_value #>> '{}';
  d interval;
begin
  if p_value is null or jsonb_typeof(p_value) = 'null' then
    return null;
  end if;
  if jsonb_typeof(p_value) <> 'string'
      or v !~ '^P(\d{1,4}W|(\d{1,4}D)?(T(\d{1,6}H)?(\d{1,8}M)?(\d{1,9}S)?)?)$' or v ~ '^P$|T$' then
    raise exception '% must be an ISO 8601 duration of weeks, days, hours, minutes or seconds, e.g. PT24H', p_field
      using errcode = 'PT422', detail = jsonb_build_object('field', p_field)::text;
  end if;
  d := v::interval;
  if d < interval '1 second' or d > interval '366 days' then
    raise exception '% must be between PT1S and P366D', p_field
      using errcode = 'PT422', detail = jsonb_build_object('field', p_field)::text;
  end if;
  return d;
end $$;

-- ---------------------------------------------------------------- jobs and counts

/** One job per pending action without a live one, in its account's queue, starting at its due time. */
create function private.enqueue_actions(p_ids uuid[]) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  r record;
  n integer := 0;
  v_groups jsonb;
begin
  with todo as (
      select a.id, a.campaign_id, c.account_id, a.due_at, gen_random_uuid() as job_id
      from public.delivery_actions a
      join public.campaigns c on c.id = a.campaign_id
      where a.id = any (p_ids) and a.state = 'pending' and c.account_id is not null
        and not exists (
          select 1 from pgboss.job j
          where j.name = private.delivery_queue(c.account_id) and j.id = a.job_id
            and j.state in ('created', 'retry', 'active'))
      order by a.id
      for update of a
    ), upd as (
      update public.delivery_actions a set job_id = t.job_id from todo t where a.id = t.id
      returning t.*
    )
  select coalesce(jsonb_agg(g), '[]') into v_groups from (
    select private.delivery_queue(account_id) as queue, due_at,
      jsonb_agg(jsonb_build_object('id', job_id, 'groupId', 'actions',
        'data', jsonb_build_object('actionId', id, 'campaignId', campaign_id, 'accountId', account_id))
        order by id) as jobs
    from upd group by account_id, due_at
  ) g;
  for r in select * from jsonb_to_recordset(v_groups) as x (queue text, due_at timestamptz, jobs jsonb) loop
    n := n + private.insert_jobs(r.queue, r.jobs, r.due_at);
  end loop;
  return n;
end $$;

/** Pending actions of a campaign (of the given kinds) stop: cancelled, their queued jobs too. */
create function private.cancel_actions(p_campaign_id uuid, p_kinds text[], p_code text) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_jobs uuid[];
begin
  with x as (
    update public.delivery_actions set state = 'cancelled', error_code = p_code, done_at = clock_timestamp()
    where campaign_id = p_campaign_id and state = 'pending' and kind = any (p_kinds)
    returning job_id
  )
  select array_agg(job_id) into v_jobs from x;
  update pgboss.job j set state = 'cancelled', completed_on = pgboss.job_now()
  from public.campaigns c
  where c.id = p_campaign_id and j.name = private.delivery_queue(c.account_id)
    and j.id = any (v_jobs) and j.state in ('created', 'retry');
  return coalesce(cardinality(v_jobs), 0);
end $$;

/** The campaign's action counts: done per kind, pending, and failures per kind and code. */
create function private.action_counts(p_campaign_id uuid) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'edited', count(*) filter (where kind = 'edit' and state = 'done'),
    'deleted', count(*) filter (where kind = 'delete' and state = 'done'),
    'pinned', count(*) filter (where kind = 'pin' and state = 'done'),
    'unpinned', count(*) filter (where kind = 'unpin' and state = 'done'),
    'pending', count(*) filter (where state = 'pending'),
    'failed', coalesce((
      select jsonb_object_agg(f.kind, f.codes) from (
        select g.kind, jsonb_object_agg(g.code, g.n) as codes from (
          select kind, coalesce(error_code, 'UNKNOWN') as code, count(*) as n
          from public.delivery_actions
          where campaign_id = p_campaign_id and state = 'failed'
          group by 1, 2) g
        group by g.kind) f), '{}'))
  from public.delivery_actions where campaign_id = p_campaign_id
$$;

create function private.delivery_actions_count() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  update public.campaigns c set action_counts = private.action_counts(c.id)
  where c.id in (select distinct campaign_id from changed);
  return null;
end $$;

create trigger delivery_actions_count_insert after insert on public.delivery_actions
  referencing new table as changed for each statement execute function private.delivery_actions_count();
create trigger delivery_actions_count_update after update on public.delivery_actions
  referencing new table as changed for each statement execute function private.delivery_actions_count();

/**
 * Inserts one action per sent post of the campaign (or of the given deliveries) not yet deleted,
 * due at `p_due` or, with `p_after`, that long after the post was sent (not before now).
 */
create function private.add_actions(p_campaign_id uuid, p_kind text, p_due timestamptz, p_after interval,
  p_deliveries uuid[] default null) returns uuid[]
language sql security definer set search_path = '' as $$
  with c as (select * from public.campaigns where id = p_campaign_id), ins as (
    insert into public.delivery_actions (delivery_id, campaign_id, owner_id, kind, version, silent, due_at)
    select d.id, d.campaign_id, d.owner_id, p_kind,
      case when p_kind = 'edit' then c.message_version end, coalesce(c.pin_silent, false),
      greatest(now(), coalesce(d.sent_at + p_after, p_due, now()))
    from public.deliveries d cross join c
    where d.campaign_id = c.id and d.state = 'sent'
      and (p_deliveries is null or d.id = any (p_deliveries))
      and not exists (
        select 1 from public.delivery_actions x
        where x.delivery_id = d.id and x.kind = 'delete' and x.state = 'done')
    on conflict do nothing
    returning id
  )
  select coalesce(array_agg(id), '{}') from ins
$$;

-- ---------------------------------------------------------------- after a send

/**
 * Posts just sent get the campaign's standing actions: a delete after delete_after, a pin and an
 * unpin after unpin_after, and an edit when the message changed after the send was claimed (it
 * went out with the old text; an edit to the same text is answered MESSAGE_NOT_MODIFIED: done).
 */
create function private.deliveries_after_send() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  r record;
  v_ids uuid[] := '{}';
begin
  for r in
    select c.id, make_interval(secs => c.delete_after_s) as delete_after, c.pin_silent,
      make_interval(secs => c.unpin_after_s) as unpin_after, array_agg(n.id) as sent,
      array_agg(n.id) filter (where c.message_changed_at is not null and not exists (
        select 1 from pgboss.job j
        where j.name = private.delivery_queue(c.account_id) and j.id = n.job_id
          and j.started_on >= c.message_changed_at)) as stale
    from new_rows n
    join old_rows o on o.id = n.id
    join public.campaigns c on c.id = n.campaign_id
    where n.state = 'sent' and o.state <> 'sent'
      and (c.delete_after_s is not null or c.pin_silent is not null or c.message_changed_at is not null)
    group by c.id
  loop
    if r.delete_after is not null then
      v_ids := v_ids || private.add_actions(r.id, 'delete', null, r.delete_after, r.sent);
    end if;
    if r.pin_silent is not null then
      v_ids := v_ids || private.add_actions(r.id, 'pin', now(), null, r.sent);
    end if;
    if r.unpin_after is not null then
      v_ids := v_ids || private.add_actions(r.id, 'unpin', null, r.unpin_after, r.sent);
    end if;
    if r.stale is not null then
      v_ids := v_ids || private.add_actions(r.id, 'edit', now(), null, r.stale);
    end if;
  end loop;
  if cardinality(v_ids) > 0 then
    perform private.enqueue_actions(v_ids);
  end if;
  return null;
end $$;

create trigger deliveries_after_send after update on public.deliveries
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.deliveries_after_send();

/** A cancelled campaign's pending actions are cancelled with it, as its pending deliveries are. */
create function private.campaigns_cancel_actions() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform private.cancel_actions(new.id, '{edit,delete,pin,unpin}', 'CAMPAIGN_CANCELLED');
  return null;
end $$;

create trigger campaigns_cancel_actions after update of state on public.campaigns
  for each row when (new.state = 'cancelled' and old.state <> 'cancelled')
  execute function private.campaigns_cancel_actions();

-- ---------------------------------------------------------------- the owner's RPCs

/**
 * A new version of the message (text, parseMode, linkPreview): deliveries still pending send it,
 * and every post already sent is edited to it (older versions' pending edits are superseded).
 */
create function public.edit_campaign_message(p_campaign_id uuid, p_message jsonb) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  k text;
  v jsonb;
  v_text text;
  v_parse text;
  v_preview boolean;
  v_missing text[];
  c public.campaigns;
begin
  perform private.require_user();
  if p_message is null or jsonb_typeof(p_message) <> 'object' then
    raise exception 'the body must be an object with the message''s text' using errcode = 'PT422',
      detail = '{"field":"text"}';
  end if;
  for k, v in select * from jsonb_each(p_message) loop
    if k not in ('text', 'parseMode', 'linkPreview') then
      raise exception 'unknown field % (a post''s text, parse mode and link preview can change; its media cannot)', k
        using errcode = 'PT422', detail = jsonb_build_object('field', k)::text;
    end if;
    if (k = 'text' and jsonb_typeof(v) <> 'string') or (k = 'linkPreview' and jsonb_typeof(v) <> 'boolean')
        or (k = 'parseMode' and (jsonb_typeof(v) <> 'string' or v #>> '{}' not in ('html', 'markdown', 'plain'))) then
      raise exception '% has the wrong type or value', k using errcode = 'PT422',
        detail = jsonb_build_object('field', k)::text;
    end if;
  end loop;
  if not p_message ? 'text' then
    raise exception 'text is required' using errcode = 'PT422', detail = '{"field":"text"}';
  end if;

  c := private.campaign_for_action(p_campaign_id, 'edit the message of', '{running,paused,completed}', 'unchanged');
  v_parse := coalesce(p_message ->> 'parseMode', c.parse_mode);
  v_preview := coalesce((p_message ->> 'linkPreview')::boolean, c.link_preview);
  select r.text, r.missing into v_text, v_missing from public.render_template(p_message ->> 'text', '{}', v_parse) r;
  if cardinality(v_missing) > 0 then
    raise exception 'text has placeholders without values (%): an edit takes the final text', array_to_string(v_missing, ', ')
      using errcode = 'PT422', detail = '{"field":"text"}';
  end if;
  if private.utf16_length(v_text) not between 1 and 4096 then
    raise exception 'text must have 1 to 4096 characters (UTF-16 code units)' using errcode = 'PT422',
      detail = '{"field":"text"}';
  end if;
  if c.media_path is not null then
    perform private.check_caption(v_text, 'text');
  end if;
  if (v_text, v_parse, v_preview) is not distinct from (c.message_text, c.parse_mode, c.link_preview) then
    return c;
  end if;

  update public.campaigns set message_text = v_text, parse_mode = v_parse, link_preview = v_preview,
    message_version = message_version + 1, message_changed_at = clock_timestamp()
  where id = c.id;
  perform private.cancel_actions(c.id, '{edit}', 'SUPERSEDED');
  perform private.enqueue_actions(private.add_actions(c.id, 'edit', now(), null));
  perform private.audit(c.owner_id, 'edit_message', 'campaigns', c.id,
    jsonb_build_object('version', c.message_version, 'text', c.message_text, 'parseMode', c.parse_mode,
      'linkPreview', c.link_preview),
    jsonb_build_object('version', c.message_version + 1, 'text', v_text, 'parseMode', v_parse,
      'linkPreview', v_preview));
  select * into c from public.campaigns where id = c.id;
  return c;
end $$;

/** Deletes every post of the campaign sent so far (pending edits and pins of them stop). */
create function public.delete_campaign_posts(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'delete the posts of',
    '{running,paused,completed,cancelled}', 'unchanged');
begin
  perform private.cancel_actions(c.id, '{edit,delete,pin,unpin}', 'SUPERSEDED');
  perform private.enqueue_actions(private.add_actions(c.id, 'delete', now(), null));
  perform private.audit(c.owner_id, 'delete_posts', 'campaigns', c.id, null, null);
  select * into c from public.campaigns where id = c.id;
  return c;
end $$;

/**
 * The campaign's standing actions, any of: deleteAfter (ISO 8601 duration or null), pin
 * ({ silent?, unpinAfter? } or null). They apply to posts sent from now on and to those already
 * sent: deletes are rescheduled from each post's send time, posts are pinned (or unpinned) now.
 */
create function public.set_post_actions(p_campaign_id uuid, p_changes jsonb) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  k text;
  v jsonb;
  v_delete interval;
  v_silent boolean;
  v_unpin interval;
  c public.campaigns;
begin
  perform private.require_user();
  if p_changes is null or jsonb_typeof(p_changes) <> 'object' or p_changes = '{}' then
    raise exception 'give deleteAfter or pin' using errcode = 'PT422', detail = '{"field":"deleteAfter"}';
  end if;
  for k, v in select * from jsonb_each(p_changes) loop
    case k
      when 'deleteAfter' then
        v_delete := private.duration_of(v, 'deleteAfter');
      when 'pin' then
        if jsonb_typeof(v) = 'object' then
          if exists (select 1 from jsonb_object_keys(v) x where x not in ('silent', 'unpinAfter')) then
            raise exception 'pin takes silent and unpinAfter' using errcode = 'PT422', detail = '{"field":"pin"}';
          end if;
          if v ? 'silent' and jsonb_typeof(v -> 'silent') <> 'boolean' then
            raise exception 'pin.silent must be a boolean' using errcode = 'PT422', detail = '{"field":"pin.silent"}';
          end if;
          v_silent := coalesce((v ->> 'silent')::boolean, false);
          v_unpin := private.duration_of(v -> 'unpinAfter', 'pin.unpinAfter');
        elsif jsonb_typeof(v) <> 'null' then
          raise exception 'pin must be an object or null' using errcode = 'PT422', detail = '{"field":"pin"}';
        end if;
      else
        raise exception 'unknown field %', k using errcode = 'PT422', detail = jsonb_build_object('field', k)::text;
    end case;
  end loop;

  c := private.campaign_for_action(p_campaign_id, 'change the post actions of',
    '{draft,scheduled,running,paused,completed}', 'unchanged');
  if p_changes ? 'deleteAfter' then
    update public.campaigns set delete_after_s = extract(epoch from v_delete)::integer where id = c.id;
    perform private.cancel_actions(c.id, '{delete}', 'RESCHEDULED');
    if v_delete is not null then
      perform private.enqueue_actions(private.add_actions(c.id, 'delete', null, v_delete));
    end if;
  end if;
  if p_changes ? 'pin' then
    update public.campaigns set pin_silent = v_silent, unpin_after_s = extract(epoch from v_unpin)::integer
    where id = c.id;
    perform private.cancel_actions(c.id, '{pin,unpin}', 'SUPERSEDED');
    -- pin_silent (set above) is what add_actions gives each pin
    if v_silent is null then
      perform private.enqueue_actions(private.add_actions(c.id, 'unpin', now(), null));
    else
      perform private.enqueue_actions(private.add_actions(c.id, 'pin', now(), null));
    end if;
    if v_unpin is not null then
      perform private.enqueue_actions(private.add_actions(c.id, 'unpin', now() + v_unpin, null));
    end if;
  end if;
  perform private.audit(c.owner_id, 'set_post_actions', 'campaigns', c.id,
    jsonb_build_object('deleteAfterSeconds', c.delete_after_s, 'pinSilent', c.pin_silent,
      'unpinAfterSeconds', c.unpin_after_s),
    p_changes);
  select * into c from public.campaigns where id = c.id;
  return c;
end $$;

/** Stops the campaign's pending actions (edits, deletes, pins), whatever its state. */
create function public.cancel_post_actions(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'cancel the post actions of',
    '{draft,scheduled,running,paused,completed,cancelled}', 'unchanged');
begin
  perform private.cancel_actions(c.id, '{edit,delete,pin,unpin}', 'CANCELLED');
  perform private.audit(c.owner_id, 'cancel_post_actions', 'campaigns', c.id, null, null);
  select * into c from public.campaigns where id = c.id;
  return c;
end $$;

-- ---------------------------------------------------------------- the worker's RPCs

/**
 * Due action jobs of the accounts this process holds (the lock check of worker_take), up to each
 * want's limit, oldest due first; a paused campaign's stay queued until it resumes. Each row says
 * what to do ('edit', 'delete', 'pin', 'unpin') or 'skip' with the reason.
 */
create function public.worker_take_actions(p_lock_pid integer, p_wants jsonb)
returns table (job_id uuid, action_id uuid, delivery_id uuid, campaign_id uuid, account_id uuid,
  action text, reason text, channel_id uuid, peer text, telegram_id bigint, access_hash bigint,
  message_id bigint, attempts integer, version integer, message_text text, parse_mode text,
  link_preview boolean, silent boolean)
language plpgsql security definer set search_path = '' as $$
begin
  return query
  with wants as (
    select w."accountId" as acc, w."limit" as lim
    from jsonb_to_recordset(p_wants) as w ("accountId" uuid, "limit" integer)
    join public.telegram_accounts a on a.id = w."accountId" and a.status = 'active'
    where exists (
      select 1 from pg_catalog.pg_locks l
      where l.locktype = 'advisory' and l.pid = p_lock_pid and l.granted
        and l.classid = 29799 and l.objsubid = 2
        and l.objid = pg_catalog.hashtext(w."accountId"::text)::oid)
  ), picked as (
    select w.acc, j.id as jid from wants w
    cross join lateral (
      select j.id from pgboss.job j
      join public.campaigns c on c.id = (j.data ->> 'campaignId')::uuid
      where j.name = private.delivery_queue(w.acc) and j.group_id = 'actions'
        and j.state < 'active' and not j.blocked and j.start_after <= pgboss.job_now()
        and c.state <> 'paused'
      order by j.start_after, j.created_on
      limit greatest(0, w.lim)
      for update of j skip locked) j
  ), activated as (
    update pgboss.job j set state = 'active', started_on = pgboss.job_now(),
      heartbeat_on = pgboss.job_now(),
      retry_count = case when j.started_on is not null then j.retry_count + 1 else j.retry_count end
    from picked p
    where j.name = private.delivery_queue(p.acc) and j.id = p.jid
    returning j.id, (j.data ->> 'actionId')::uuid as aid
  )
  select a.id, x.id, d.id, d.campaign_id, c.account_id,
    case when x.state = 'pending' and x.job_id = a.id and d.state = 'sent' then x.kind else 'skip' end,
    case
      when x.state <> 'pending' then 'action ' || x.state
      when x.job_id is distinct from a.id then 'stale job'
      when d.state <> 'sent' then 'delivery ' || d.state
    end,
    d.channel_id, d.peer, ap.telegram_id, ap.access_hash, d.telegram_message_id, x.attempts, x.version,
    c.message_text, c.parse_mode, c.link_preview, x.silent
  from activated a
  join public.delivery_actions x on x.id = a.aid
  join public.deliveries d on d.id = x.delivery_id
  join public.campaigns c on c.id = x.campaign_id
  left join private.account_peers ap on ap.account_id = c.account_id and ap.channel_id = d.channel_id;
end $$;

/**
 * Outcomes of actions: [{ actionId, jobId, accountId, outcome: done | failed | retry | deferred |
 * skip, errorCode?, errorMessage?, retryAt? }]. Only the job recorded on an action settles it;
 * retry and deferred queue a new job (at retryAt, or now).
 */
create function public.worker_record_actions(p_results jsonb) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_bad jsonb;
  v_again uuid[];
begin
  select to_jsonb(x) into v_bad
  from jsonb_to_recordset(p_results) as x ("actionId" uuid, "jobId" uuid, "accountId" uuid, outcome text)
  where x."actionId" is null or x."jobId" is null or x."accountId" is null
     or x.outcome is null or x.outcome not in ('done', 'failed', 'retry', 'deferred', 'skip')
  limit 1;
  if v_bad is not null then
    raise exception 'worker_record_actions: bad result %', v_bad using errcode = '22023';
  end if;

  -- Lock order of every path: campaigns, then the rows under them, then jobs.
  perform 1 from public.campaigns c
  where c.id in (select a.campaign_id from public.delivery_actions a
    where a.id in (select (x ->> 'actionId')::uuid from jsonb_array_elements(p_results) x))
  order by c.id for no key update;

  with x as (
    select * from jsonb_to_recordset(p_results) as x ("actionId" uuid, "jobId" uuid, outcome text,
      "errorCode" text, "errorMessage" text, "retryAt" timestamptz)
    where x.outcome <> 'skip'
  ), upd as (
    update public.delivery_actions a set
      state = case when x.outcome in ('done', 'failed') then x.outcome else a.state end,
      attempts = a.attempts + case when x.outcome in ('done', 'failed', 'retry') then 1 else 0 end,
      error_code = case when x.outcome = 'done' then null else coalesce(left(x."errorCode", 100), a.error_code) end,
      error_message = case when x.outcome = 'done' then null
        else coalesce(left(x."errorMessage", 1000), a.error_message) end,
      due_at = case when x.outcome in ('retry', 'deferred') then greatest(now(), coalesce(x."retryAt", now()))
        else a.due_at end,
      done_at = case when x.outcome in ('done', 'failed') then clock_timestamp() end
    from x
    where a.id = x."actionId" and a.job_id = x."jobId" and a.state = 'pending'
    returning a.id, x.outcome
  )
  select array_agg(id) filter (where outcome in ('retry', 'deferred')) into v_again from upd;

  update pgboss.job j set state = 'completed', completed_on = pgboss.job_now()
  from jsonb_to_recordset(p_results) as x ("jobId" uuid, "accountId" uuid)
  where j.name = private.delivery_queue(x."accountId") and j.id = x."jobId" and j.state = 'active';

  if v_again is not null then
    perform private.enqueue_actions(v_again);
  end if;
end $$;

-- ---------------------------------------------------------------- progress

-- Action counts ride along with progress events; a change of them alone is coalesced like sends.
create or replace function private.campaign_progress_event(c public.campaigns) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'campaignId', c.id,
    'state', c.state,
    'pauseReason', c.pause_reason,
    'resumeAt', c.resume_at,
    'total', c.total_count,
    'pending', c.pending_count,
    'sent', c.sent_count,
    'failed', c.failed_count,
    'unconfirmed', c.unconfirmed_count,
    'cancelled', c.cancelled_count,
    'actions', c.action_counts,
    'at', clock_timestamp())
$$;

create or replace function private.broadcast_campaign_progress() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_last timestamptz;
  v_now timestamptz := clock_timestamp();
  v_sends boolean := (old.total_count, old.pending_count, old.sent_count, old.failed_count,
    old.unconfirmed_count, old.cancelled_count) is distinct from (new.total_count, new.pending_count,
    new.sent_count, new.failed_count, new.unconfirmed_count, new.cancelled_count);
  v_significant boolean :=
    new.state is distinct from old.state
    or new.pause_reason is distinct from old.pause_reason
    or new.resume_at is distinct from old.resume_at
    or (v_sends and (new.pending_count = 0 or new.state <> 'running'))
    -- the last pending action settled: the final action counts always go out
    or (new.action_counts ->> 'pending' is not distinct from '0' and old.action_counts ->> 'pending' is distinct from '0');
begin
  if not v_significant then
    select sent_at into v_last from private.campaign_progress_broadcasts where campaign_id = new.id;
    if v_last is not null and v_now - v_last < private.progress_min_interval() then
      return null;
    end if;
  end if;
  insert into private.campaign_progress_broadcasts as b (campaign_id, sent_at)
  values (new.id, v_now)
  on conflict (campaign_id) do update set sent_at = excluded.sent_at;
  -- realtime.send never raises (it warns), so progress can never fail a send's transaction.
  perform realtime.send(private.campaign_progress_event(new), 'progress', 'campaign:' || new.id::text, true);
  return null;
end $$;

drop trigger campaigns_broadcast_progress on public.campaigns;
create trigger campaigns_broadcast_progress
  after update of state, pause_reason, resume_at, total_count, pending_count, sent_count, failed_count,
    unconfirmed_count, cancelled_count, action_counts on public.campaigns
  for each row when (old.state is distinct from new.state or old.pause_reason is distinct from new.pause_reason
    or old.resume_at is distinct from new.resume_at or old.total_count <> new.total_count
    or old.pending_count <> new.pending_count or old.sent_count <> new.sent_count
    or old.failed_count <> new.failed_count or old.unconfirmed_count <> new.unconfirmed_count
    or old.cancelled_count <> new.cancelled_count or old.action_counts <> new.action_counts)
  execute function private.broadcast_campaign_progress();

-- ---------------------------------------------------------------- grants

revoke execute on function private.duration_of(jsonb, text) from public;
revoke execute on function private.enqueue_actions(uuid[]) from public;
revoke execute on function private.cancel_actions(uuid, text[], text) from public;
revoke execute on function private.action_counts(uuid) from public;
revoke execute on function private.delivery_actions_count() from public;
revoke execute on function private.add_actions(uuid, text, timestamptz, interval, uuid[]) from public;
revoke execute on function private.deliveries_after_send() from public;
revoke execute on function private.campaigns_cancel_actions() from public;

revoke execute on function public.edit_campaign_message(uuid, jsonb) from public, anon;
grant execute on function public.edit_campaign_message(uuid, jsonb) to authenticated, service_role;
revoke execute on function public.delete_campaign_posts(uuid) from public, anon;
grant execute on function public.delete_campaign_posts(uuid) to authenticated, service_role;
revoke execute on function public.set_post_actions(uuid, jsonb) from public, anon;
grant execute on function public.set_post_actions(uuid, jsonb) to authenticated, service_role;
revoke execute on function public.cancel_post_actions(uuid) from public, anon;
grant execute on function public.cancel_post_actions(uuid) to authenticated, service_role;

revoke execute on function public.worker_take_actions(integer, jsonb) from public, anon, authenticated;
grant execute on function public.worker_take_actions(integer, jsonb) to service_role;
revoke execute on function public.worker_record_actions(jsonb) from public, anon, authenticated;
grant execute on function public.worker_record_actions(jsonb) to service_role;
