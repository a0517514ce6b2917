-- The worker's send path for many Telegram accounts on a constant number of connections.
--
-- * worker_take: one statement fetches due delivery jobs for every account a worker process
--   holds (per-account limits, round-robin between each account's running campaigns) and
--   returns what each may send. Nothing stays locked after it commits: sends happen outside
--   any transaction.
-- * worker_record: outcomes of many accounts and campaigns, the counters (triggers) and the
--   completion of their jobs in one short transaction. Only the job recorded on a delivery may
--   settle it, so recording the same outcomes twice changes nothing.
-- * deliveries.state 'unconfirmed': the last attempt's outcome is unknown (a timeout or a
--   dropped connection); never shown as failed, retried by retry-failed with the same random_id.
-- * telegram_accounts.unreachable_since: the worker cannot reach Telegram for this account;
--   its deliveries wait without spending attempts.
--
-- Job flow of a delivery queue (pg-boss states):
--   created ──worker_take──▶ active ──worker_record──▶ completed
--      ▲                       │ worker died: heartbeat missed (pg-boss supervise)
--      └──── retry ◀───────────┘
-- A retry, reschedule or deferral completes the job and enqueues a new one for the delivery.

-- 1. Fetch one campaign's jobs from its account's queue without scanning other campaigns'.
create index delivery_job_campaign on pgboss.job (name, group_id, created_on)
  where state < 'active';

-- 2. The unknown-outcome state and its counter.
do $$
declare
  r record;
begin
  for r in
    select conrelid::regclass as tbl, conname from pg_constraint
    where contype = 'c' and (
      (conrelid = 'public.deliveries'::regclass and pg_get_constraintdef(oid) like '%''cancelled''%')
      or (conrelid = 'public.campaigns'::regclass and pg_get_constraintdef(oid) like '%total_count = %'))
  loop
    execute format('alter table %s drop constraint %I', r.tbl, r.conname);
  end loop;
end $$;
alter table public.deliveries add constraint deliveries_state_check
  check (state in ('pending', 'sent', 'failed', 'unconfirmed', 'cancelled'));
alter table public.campaigns add column unconfirmed_count integer not null default 0
  check (unconfirmed_count >= 0);
alter table public.campaigns add constraint campaigns_counts_check
  check (total_count = pending_count + sent_count + failed_count + unconfirmed_count + cancelled_count);

-- 3. Connection state of an account, as its worker sees it.
alter table public.telegram_accounts
  add column unreachable_since timestamptz,
  add column unreachable_reason text check (char_length(unreachable_reason) <= 500);

create or replace function private.deliveries_count_insert() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  update public.campaigns c set
    total_count = c.total_count + x.n,
    pending_count = c.pending_count + x.pending,
    sent_count = c.sent_count + x.sent,
    failed_count = c.failed_count + x.failed,
    unconfirmed_count = c.unconfirmed_count + x.unconfirmed,
    cancelled_count = c.cancelled_count + x.cancelled
  from (
    select campaign_id, count(*)::int as n,
      count(*) filter (where state = 'pending')::int as pending,
      count(*) filter (where state = 'sent')::int as sent,
      count(*) filter (where state = 'failed')::int as failed,
      count(*) filter (where state = 'unconfirmed')::int as unconfirmed,
      count(*) filter (where state = 'cancelled')::int as cancelled
    from new_rows group by campaign_id
  ) x
  where c.id = x.campaign_id;
  return null;
end $$;

-- As before, with the unconfirmed counter. Unconfirmed deliveries do not count against
-- max_errors: nothing says Telegram refused them.
create or replace function private.deliveries_count_update() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  with x as (
    select n.campaign_id,
      sum((n.state = 'pending')::int - (o.state = 'pending')::int)::int as dp,
      sum((n.state = 'sent')::int - (o.state = 'sent')::int)::int as ds,
      sum((n.state = 'failed')::int - (o.state = 'failed')::int)::int as df,
      sum((n.state = 'unconfirmed')::int - (o.state = 'unconfirmed')::int)::int as du,
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
      unconfirmed_count = c.unconfirmed_count + x.du,
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
      'sent', u.sent_count, 'failed', u.failed_count, 'unconfirmed', u.unconfirmed_count)
  from upd u join before b on b.id = u.id
  where u.state is distinct from b.state;

  perform private.cancel_campaign_jobs(c.id, c.account_id)
  from public.campaigns c
  where c.id in (select campaign_id from new_rows)
    and c.state = 'paused' and c.pause_reason = 'error_threshold';
  return null;
end $$;

-- retry-failed also retries unconfirmed deliveries, with the same random_id: a target that
-- did receive the message gets Telegram's original answer, not a second post.
create or replace function public.retry_failed_deliveries(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'retry-failed',
    '{running,paused,completed}', 'running');
  v_after public.campaigns;
begin
  if c.failed_count + c.unconfirmed_count = 0 then
    raise exception 'campaign % has no failed or unconfirmed deliveries to retry', c.id using errcode = 'PT409',
      detail = jsonb_build_object('from', c.state, 'to', c.state, 'action', 'retry-failed')::text;
  end if;
  if c.state = 'completed' then
    update public.campaigns set state = 'running', completed_at = null where id = c.id;
  end if;
  update public.campaigns set failed_at_resume = 0 where id = c.id;
  update public.deliveries set state = 'pending', attempts = 0, error_code = null,
    error_message = null, job_id = null
  where campaign_id = c.id and state in ('failed', 'unconfirmed');
  select * into v_after from public.campaigns where id = c.id;
  if v_after.state = 'running' then
    perform private.enqueue_campaign(v_after);
  end if;
  perform private.audit_transition('retry_failed', c, v_after);
  return v_after;
end $$;

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
    'at', clock_timestamp())
$$;

drop trigger campaigns_broadcast_progress on public.campaigns;
create trigger campaigns_broadcast_progress
  after update of state, pause_reason, resume_at, total_count, pending_count, sent_count,
    failed_count, unconfirmed_count, cancelled_count on public.campaigns
  for each row
  when (old.state is distinct from new.state
    or old.pause_reason is distinct from new.pause_reason
    or old.resume_at is distinct from new.resume_at
    or old.total_count <> new.total_count or old.pending_count <> new.pending_count
    or old.sent_count <> new.sent_count or old.failed_count <> new.failed_count
    or old.unconfirmed_count <> new.unconfirmed_count
    or old.cancelled_count <> new.cancelled_count)
  execute function private.broadcast_campaign_progress();

-- 4. Fetch and claim in one statement. p_wants: [{ accountId, limit }]. Only accounts that are
-- active and whose advisory lock is held by the caller's lock session (p_lock_pid) are served,
-- so a process that lost its locks fetches nothing. Per account: up to p_campaigns running
-- campaigns (in start order) interleaved job by job, at most `limit` jobs in all. The jobs turn
-- active as pg-boss's own fetch makes them; the rows say for each job whether it may send: its
-- delivery is pending, names this job, and its campaign runs.
create function public.worker_take(p_lock_pid integer, p_wants jsonb, p_campaigns integer default 6)
returns table (
  job_id uuid, delivery_id uuid, campaign_id uuid, account_id uuid, action text, reason text,
  channel_id uuid, peer text, telegram_id bigint, access_hash bigint, random_id bigint,
  attempts integer, message_text text, parse_mode text, silent boolean, link_preview boolean,
  campaign_rate_per_minute integer, campaign_failed_count integer, campaign_max_errors integer
)
language plpgsql security definer set search_path = '' as $$
begin
  -- a scheduled campaign starts running when its time has come (campaign rows first: the
  -- lock order of the user's actions)
  update public.campaigns c set state = 'running', started_at = now()
  where c.account_id in (select (w ->> 'accountId')::uuid from jsonb_array_elements(p_wants) w)
    and c.state = 'scheduled' and coalesce(c.scheduled_at, now()) <= now();

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
  ), camps as (
    select w.acc, w.lim, c.id as cid, c.crank
    from wants w
    cross join lateral (
      select c.id, row_number() over (order by c.started_at, c.id) as crank
      from public.campaigns c
      where c.account_id = w.acc and c.state = 'running'
      order by c.started_at, c.id limit p_campaigns) c
  ), cand as (
    select k.acc, k.lim, k.crank, j.id as jid, j.created_on
    from camps k
    cross join lateral (
      select j.id, j.created_on from pgboss.job j
      where j.name = private.delivery_queue(k.acc) and j.group_id = k.cid::text
        and j.state < 'active' and not j.blocked and j.start_after <= pgboss.job_now()
      order by j.created_on
      limit k.lim
      for update skip locked) j
  ), ranked as (
    select c.acc, c.lim, c.jid, c.crank,
      row_number() over (partition by c.acc, c.crank order by c.created_on) as nth
    from cand c
  ), picked as (
    select r.acc, r.jid from (
      select k.acc, k.lim, k.jid, row_number() over (partition by k.acc order by k.nth, k.crank) as arank
      from ranked k) r
    where r.arank <= r.lim
  ), activated as (
    update pgboss.job j set state = 'active', started_on = pgboss.job_now(),
      heartbeat_on = pgboss.job_now(),
      retry_count = case when j.started_on is not null then j.retry_count + 1 else j.retry_count end
    from picked p
    where j.name = private.delivery_queue(p.acc) and j.id = p.jid
    returning j.id, (j.data ->> 'deliveryId')::uuid as did
  )
  select a.id, d.id, d.campaign_id, c.account_id,
    case when d.state = 'pending' and d.job_id = a.id and c.state = 'running'
      then 'send' else 'skip' end,
    case
      when d.state <> 'pending' then 'delivery ' || d.state
      when d.job_id is distinct from a.id then 'stale job'
      when c.state <> 'running' then 'campaign ' || c.state
    end,
    d.channel_id, d.peer, ch.telegram_id, ch.access_hash, d.random_id, d.attempts,
    c.message_text, c.parse_mode, c.silent, c.link_preview, c.rate_per_minute,
    c.failed_count - c.failed_at_resume, c.max_errors
  from activated a
  join public.deliveries d on d.id = a.did
  join public.campaigns c on c.id = d.campaign_id
  left join public.channels ch on ch.id = d.channel_id;
end $$;

-- 5. Outcomes of many deliveries (any accounts and campaigns), and the completion of their jobs.
-- p_results: [{ deliveryId, jobId, accountId, outcome, messageId?, errorCode?, errorMessage?,
-- retryAt? }], outcome:
--   sent        : delivered (messageId required); one attempt
--   failed      : Telegram refused it for good; one attempt
--   unconfirmed : the last attempt's outcome is unknown (timeout, dropped connection); one attempt
--   retry       : transient failure; one attempt; a new job runs at retryAt
--   reschedule  : not attempted (SLOWMODE_WAIT, RANDOM_ID_DUPLICATE, Telegram unreachable);
--                 a new job runs at retryAt
--   deferred    : not attempted (FLOOD_WAIT, account stopped, campaign paused, worker stopping);
--                 a new job at once if the campaign still runs, else resume enqueues it
--   skip        : the job had nothing to do (stale, delivery settled, campaign not running)
-- Every named job is completed. Returns the touched campaigns with state and counters.
create or replace function public.worker_record(p_results jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_bad jsonb;
  v_campaigns uuid[];
  r record;
begin
  select to_jsonb(x) into v_bad
  from jsonb_to_recordset(p_results) as x ("deliveryId" uuid, "jobId" uuid, "accountId" uuid,
    outcome text, "messageId" bigint, "retryAt" timestamptz)
  where x."jobId" is null or x."accountId" is null
     or x.outcome not in ('sent', 'failed', 'unconfirmed', 'retry', 'reschedule', 'deferred', 'skip')
     or (x.outcome = 'sent' and x."messageId" is null)
     or (x.outcome in ('retry', 'reschedule') and x."retryAt" is null)
  limit 1;
  if v_bad is not null then
    raise exception 'worker_record: bad result %', v_bad using errcode = '22023';
  end if;

  -- Lock order of every path: campaigns, then deliveries, then jobs.
  perform 1 from public.campaigns c
  where c.id in (select d.campaign_id from public.deliveries d
    where d.id in (select (x ->> 'deliveryId')::uuid from jsonb_array_elements(p_results) x))
  order by c.id for no key update;

  with x as (
    select * from jsonb_to_recordset(p_results) as x ("deliveryId" uuid, "jobId" uuid, outcome text,
      "messageId" bigint, "errorCode" text, "errorMessage" text, "retryAt" timestamptz)
    where x.outcome <> 'skip'
  ), settled as (
    update public.deliveries d set
      state = case when x.outcome in ('sent', 'failed', 'unconfirmed') then x.outcome else d.state end,
      attempts = d.attempts + case when x.outcome in ('sent', 'failed', 'unconfirmed', 'retry') then 1 else 0 end,
      telegram_message_id = case when x.outcome = 'sent' then x."messageId" else d.telegram_message_id end,
      sent_at = case when x.outcome = 'sent' then clock_timestamp() else d.sent_at end,
      error_code = case when x.outcome = 'sent' then null else coalesce(left(x."errorCode", 100), d.error_code) end,
      error_message = case when x.outcome = 'sent' then null
        else coalesce(left(x."errorMessage", 1000), d.error_message) end,
      next_attempt_at = case when x.outcome in ('retry', 'reschedule') then x."retryAt" end
    from x
    where d.id = x."deliveryId" and d.state = 'pending' and d.job_id = x."jobId"
    returning d.campaign_id
  )
  select array_agg(distinct s.campaign_id) into v_campaigns from settled s;

  -- the caller's own active jobs (a job that is no longer active was settled before)
  update pgboss.job j set state = 'completed', completed_on = pgboss.job_now()
  from jsonb_to_recordset(p_results) as x ("jobId" uuid, "accountId" uuid)
  where j.name = private.delivery_queue(x."accountId") and j.id = x."jobId" and j.state = 'active';

  for r in
    select x."retryAt" as at, array_agg(d.id) as ids
    from jsonb_to_recordset(p_results) as x ("deliveryId" uuid, "jobId" uuid, outcome text, "retryAt" timestamptz)
    join public.deliveries d on d.id = x."deliveryId" and d.state = 'pending' and d.job_id = x."jobId"
    join public.campaigns c on c.id = d.campaign_id
    where x.outcome in ('retry', 'reschedule')
       or (x.outcome = 'deferred' and c.state in ('running', 'scheduled'))
    group by x."retryAt"
  loop
    perform private.enqueue_deliveries(r.ids, r.at);
  end loop;

  return coalesce((
    select jsonb_agg(jsonb_build_object('id', c.id, 'accountId', c.account_id, 'state', c.state,
      'pauseReason', c.pause_reason, 'pending', c.pending_count, 'sent', c.sent_count,
      'failed', c.failed_count, 'unconfirmed', c.unconfirmed_count) order by c.id)
    from public.campaigns c where c.id = any (v_campaigns)), '[]');
end $$;

-- 6. The worker cannot reach Telegram for this account (p_reason), or can again (null).
-- Campaigns keep their state: their deliveries simply wait, without spending attempts.
create function public.worker_account_reachable(p_account_id uuid, p_unreachable_reason text)
returns void
language sql security definer set search_path = '' as $$
  update public.telegram_accounts set
    unreachable_since = case when p_unreachable_reason is null then null
      else coalesce(unreachable_since, now()) end,
    unreachable_reason = left(p_unreachable_reason, 500)
  where id = p_account_id
$$;

-- 7. Peers resolved by a batch of sends, stored in one statement. p_peers: [{ channelId,
-- telegramId, accessHash }].
create function public.worker_set_channel_peers(p_peers jsonb) returns void
language sql security definer set search_path = '' as $$
  update public.channels c set telegram_id = p."telegramId", access_hash = p."accessHash", resolved_at = now()
  from jsonb_to_recordset(p_peers) as p ("channelId" uuid, "telegramId" bigint, "accessHash" bigint)
  where c.id = p."channelId"
$$;

revoke execute on function public.worker_take, public.worker_account_reachable,
  public.worker_set_channel_peers from public, anon, authenticated;
grant execute on function public.worker_take, public.worker_account_reachable,
  public.worker_set_channel_peers to service_role;
drop function public.worker_claim(jsonb);
drop function public.worker_set_channel_peer(uuid, bigint, bigint);
revoke execute on all functions in schema private from public, anon, authenticated;
grant execute on function private.require_user() to authenticated, service_role;
