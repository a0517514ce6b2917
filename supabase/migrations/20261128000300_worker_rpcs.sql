-- RPCs of the delivery worker. Only the service role (and the postgres role the worker
-- connects as) may call them: they act for every owner. Each is meant to run inside the
-- worker's pg-boss transaction, so the outcome of a send, the counters and the job's
-- completion commit together.

-- Locks what a batch of jobs will touch (campaigns, then deliveries, both in id order) and
-- says for each job whether it may send. A job may send only if its delivery is pending, the
-- delivery still names this job, and the campaign runs. p_jobs: [{ jobId, deliveryId }].
-- With the campaign's failures that count against max_errors (read after its lock) and
-- max_errors, the batch stops sending a campaign as soon as its failures pass the threshold.
create function public.worker_claim(p_jobs jsonb)
returns table (
  job_id uuid, delivery_id uuid, campaign_id uuid, account_id uuid, action text, reason text,
  channel_id uuid, peer text, telegram_id bigint, access_hash bigint, random_id bigint,
  attempts integer, message_text text, parse_mode text, silent boolean, link_preview boolean,
  campaign_rate_per_minute integer, campaign_failed_count integer, campaign_max_errors integer
)
language plpgsql security definer set search_path = '' as $$
declare
  v_campaigns uuid[];
begin
  v_campaigns := array(
    select distinct d.campaign_id from public.deliveries d
    where d.id in (select (j ->> 'deliveryId')::uuid from jsonb_array_elements(p_jobs) j));
  perform 1 from public.campaigns c where c.id = any (v_campaigns) order by c.id for no key update;
  -- a scheduled campaign starts running when its first job comes due
  update public.campaigns c set state = 'running', started_at = now()
  where c.id = any (v_campaigns) and c.state = 'scheduled'
    and coalesce(c.scheduled_at, now()) <= now();

  return query
  select j."jobId", d.id, d.campaign_id, c.account_id,
    case when d.state = 'pending' and d.job_id = j."jobId" and c.state = 'running'
      then 'send' else 'skip' end,
    case
      when d.state <> 'pending' then 'delivery ' || d.state
      when d.job_id is distinct from j."jobId" then 'stale job'
      when c.state <> 'running' then 'campaign ' || c.state
    end,
    d.channel_id, d.peer, ch.telegram_id, ch.access_hash, d.random_id, d.attempts,
    c.message_text, c.parse_mode, c.silent, c.link_preview, c.rate_per_minute,
    c.failed_count - c.failed_at_resume, c.max_errors
  from jsonb_to_recordset(p_jobs) as j ("jobId" uuid, "deliveryId" uuid)
  join public.deliveries d on d.id = j."deliveryId"
  join public.campaigns c on c.id = d.campaign_id
  left join public.channels ch on ch.id = d.channel_id
  order by d.id
  for update of d;
end $$;

-- Records the outcomes of a batch. p_results: [{ deliveryId, outcome, messageId?, errorCode?,
-- errorMessage?, retryAt? }] where outcome is
--   sent       : delivered (messageId required)
--   failed     : permanent failure, no retry
--   retry      : transient failure; one attempt used; a new job runs at retryAt
--   reschedule : not attempted (SLOWMODE_WAIT); a new job runs at retryAt
--   deferred   : not attempted (FLOOD_WAIT, paused campaign); resume will enqueue it again
-- Returns the campaigns touched with their state and counters.
create function public.worker_record(p_results jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  r record;
  v_campaigns uuid[];
begin
  create temp table if not exists worker_results (
    delivery_id uuid primary key, outcome text, message_id bigint, error_code text,
    error_message text, retry_at timestamptz
  ) on commit drop;
  truncate worker_results;
  insert into worker_results
  select "deliveryId", outcome, "messageId", left("errorCode", 100), left("errorMessage", 1000), "retryAt"
  from jsonb_to_recordset(p_results) as x ("deliveryId" uuid, outcome text, "messageId" bigint,
    "errorCode" text, "errorMessage" text, "retryAt" timestamptz);

  if exists (select 1 from worker_results
             where outcome not in ('sent', 'failed', 'retry', 'reschedule', 'deferred')
                or (outcome = 'sent' and message_id is null)
                or (outcome in ('retry', 'reschedule') and retry_at is null)) then
    raise exception 'worker_record: bad result %', (select to_jsonb(w) from worker_results w
      where outcome not in ('sent', 'failed', 'retry', 'reschedule', 'deferred')
         or (outcome = 'sent' and message_id is null)
         or (outcome in ('retry', 'reschedule') and retry_at is null) limit 1)
      using errcode = '22023';
  end if;

  v_campaigns := array(select distinct d.campaign_id from public.deliveries d
    join worker_results w on w.delivery_id = d.id);

  update public.deliveries d set
    state = case w.outcome when 'sent' then 'sent' when 'failed' then 'failed' else d.state end,
    attempts = d.attempts + case when w.outcome in ('sent', 'failed', 'retry') then 1 else 0 end,
    telegram_message_id = case when w.outcome = 'sent' then w.message_id else d.telegram_message_id end,
    sent_at = case when w.outcome = 'sent' then clock_timestamp() else d.sent_at end,
    error_code = case when w.outcome = 'sent' then null else coalesce(w.error_code, d.error_code) end,
    error_message = case when w.outcome = 'sent' then null else coalesce(w.error_message, d.error_message) end,
    -- the running job is still live; the retry gets a job of its own
    job_id = case when w.outcome in ('retry', 'reschedule') then null else d.job_id end,
    next_attempt_at = case when w.outcome in ('retry', 'reschedule') then w.retry_at end
  from worker_results w
  where d.id = w.delivery_id and d.state = 'pending';

  for r in
    select w.retry_at, array_agg(w.delivery_id) as ids from worker_results w
    where w.outcome in ('retry', 'reschedule') group by w.retry_at
  loop
    perform private.enqueue_deliveries(r.ids, r.retry_at);
  end loop;

  return coalesce((
    select jsonb_agg(jsonb_build_object('id', c.id, 'state', c.state, 'pauseReason', c.pause_reason,
      'pending', c.pending_count, 'sent', c.sent_count, 'failed', c.failed_count) order by c.id)
    from public.campaigns c where c.id = any (v_campaigns)), '[]');
end $$;

create function private.pause_account_campaigns(p_account_id uuid, p_reason text, p_resume_at timestamptz)
returns integer
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns;
  n integer := 0;
begin
  for c in
    select * from public.campaigns
    where account_id = p_account_id
      and (state in ('running', 'scheduled')
           or (state = 'paused' and pause_reason = 'flood_wait' and p_reason = 'flood_wait'))
    order by id for no key update
  loop
    update public.campaigns set state = 'paused', pause_reason = p_reason,
      resume_at = case when p_reason = 'flood_wait' then greatest(resume_at, p_resume_at) end
    where id = c.id;
    perform private.cancel_campaign_jobs(c.id, c.account_id);
    if c.state <> 'paused' then
      perform private.audit(c.owner_id, 'auto_pause', 'campaigns', c.id,
        jsonb_build_object('state', c.state),
        jsonb_build_object('state', 'paused', 'pauseReason', p_reason, 'resumeAt', p_resume_at));
    end if;
    n := n + 1;
  end loop;
  return n;
end $$;

-- Telegram answered FLOOD_WAIT_X: the account rests X seconds, its campaigns pause with
-- resume_at, and a campaign-resume job wakes them when the wait ends. Returns resume_at.
create function public.worker_flood_wait(p_account_id uuid, p_seconds integer) returns timestamptz
language plpgsql security definer set search_path = '' as $$
declare
  v_until timestamptz := now() + make_interval(secs => greatest(p_seconds, 1));
begin
  update public.telegram_accounts set status = 'flood_wait',
    status_reason = format('FLOOD_WAIT_%s', p_seconds),
    flood_wait_until = greatest(coalesce(flood_wait_until, v_until), v_until)
  where id = p_account_id
  returning flood_wait_until into v_until;
  if not found then
    raise exception 'account % not found', p_account_id using errcode = 'PT404';
  end if;
  perform private.pause_account_campaigns(p_account_id, 'flood_wait', v_until);
  perform private.insert_jobs('campaign-resume',
    jsonb_build_array(jsonb_build_object('data', jsonb_build_object('accountId', p_account_id))),
    v_until);
  return v_until;
end $$;

-- Run by the campaign-resume job: if the account's wait is over, it is active again and its
-- FLOOD_WAIT-paused campaigns run (a later, longer wait keeps them paused: the account is
-- still waiting). Returns how many campaigns resumed.
create function public.worker_resume_due(p_account_id uuid) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns;
  n integer := 0;
begin
  update public.telegram_accounts set status = 'active', status_reason = null, flood_wait_until = null
  where id = p_account_id and status = 'flood_wait' and flood_wait_until <= now();
  if exists (select 1 from public.telegram_accounts where id = p_account_id and status <> 'active') then
    return 0;
  end if;
  for c in
    select * from public.campaigns
    where account_id = p_account_id and state = 'paused' and pause_reason = 'flood_wait'
    order by id for no key update
  loop
    -- a scheduled campaign paused by the account's flood goes back to waiting for its time
    update public.campaigns set state = case when scheduled_at > now() then 'scheduled' else 'running' end,
      pause_reason = null, resume_at = null
    where id = c.id returning * into c;
    perform private.enqueue_campaign(c);
    perform private.complete_if_done(c.id);
    perform private.audit(c.owner_id, 'auto_resume', 'campaigns', c.id,
      jsonb_build_object('state', 'paused', 'pauseReason', 'flood_wait'), jsonb_build_object('state', 'running'));
    n := n + 1;
  end loop;
  return n;
end $$;

-- PEER_FLOOD, a revoked or banned session: the account stops and so do its campaigns, with
-- the reason shown to the owner. 'active' clears the state (campaigns resume by hand).
create function public.worker_account_status(p_account_id uuid, p_status text, p_reason text)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_status not in ('active', 'peer_flood', 'revoked', 'disabled') then
    raise exception 'unknown account status %', p_status using errcode = '22023';
  end if;
  update public.telegram_accounts set status = p_status, status_reason = left(p_reason, 500),
    flood_wait_until = null
  where id = p_account_id;
  if not found then
    raise exception 'account % not found', p_account_id using errcode = 'PT404';
  end if;
  if p_status <> 'active' then
    perform private.pause_account_campaigns(p_account_id, 'account', null);
  end if;
end $$;

-- Stores what Telegram resolved a peer to, so later sends need no lookup.
create function public.worker_set_channel_peer(p_channel_id uuid, p_telegram_id bigint, p_access_hash bigint)
returns void
language sql security definer set search_path = '' as $$
  update public.channels set telegram_id = p_telegram_id, access_hash = p_access_hash, resolved_at = now()
  where id = p_channel_id
$$;

revoke execute on function public.worker_claim, public.worker_record, public.worker_flood_wait,
  public.worker_resume_due, public.worker_account_status, public.worker_set_channel_peer
  from public, anon, authenticated;
grant execute on function public.worker_claim, public.worker_record, public.worker_flood_wait,
  public.worker_resume_due, public.worker_account_status, public.worker_set_channel_peer
  to service_role;
revoke execute on all functions in schema private from public, anon, authenticated;
grant execute on function private.require_user() to authenticated, service_role;
