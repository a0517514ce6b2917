-- A send in flight when its campaign was cancelled may still complete (docs/decisions.md, "Pause
-- and cancel: what the answer means"): its delivery, cancelled meanwhile, is then sent, and
-- counted so. worker_record (20261202000100_fleet_worker.sql) settles a 'sent' outcome also for
-- a cancelled delivery, for the job that claimed it (the job is still active: cancel_campaign
-- leaves a delivery's job id alone). Every other outcome of a cancelled delivery changes nothing.
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
    where d.id = x."deliveryId" and d.job_id = x."jobId"
      and (d.state = 'pending' or (d.state = 'cancelled' and x.outcome = 'sent'))
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
