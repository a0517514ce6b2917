-- worker_take: a campaign without a cap of its own is claimed up to the account's want again,
-- as before claims were sized by campaign caps. 20261206800000 subtracted what the worker already
-- holds of such a campaign from the account's want, which already counts it: each claim came out
-- short and the fleet benchmark sent at 56 % of the pace (x1.79 for 1 account x 1 campaign).
-- A capped campaign still gets at most what its cap sends in half its jobs' expiry, less what
-- the worker holds of it.
create or replace function public.worker_take(p_lock_pid integer, p_wants jsonb, p_campaigns integer default 6)
returns table(job_id uuid, delivery_id uuid, campaign_id uuid, account_id uuid, action text, reason text, channel_id uuid, peer text, telegram_id bigint, access_hash bigint, random_id bigint, attempts integer, message_text text, parse_mode text, silent boolean, link_preview boolean, campaign_rate_per_minute integer, campaign_failed_count integer, campaign_max_errors integer, media_path text, media_kind text, media_mime text, media_size bigint, media_ref jsonb)
language plpgsql security definer set search_path = '' as $function$
begin
  -- a scheduled campaign starts running when its time has come (campaign rows first: the
  -- lock order of the user's actions)
  update public.campaigns c set state = 'running', started_at = now()
  where c.account_id in (select (w ->> 'accountId')::uuid from jsonb_array_elements(p_wants) w)
    and c.state = 'scheduled' and coalesce(c.scheduled_at, now()) <= now();

  return query
  with wants as (
    select w."accountId" as acc, w."limit" as lim, coalesce(w.queued, '{}') as queued
    from jsonb_to_recordset(p_wants) as w ("accountId" uuid, "limit" integer, queued jsonb)
    join public.telegram_accounts a on a.id = w."accountId" and a.status = 'active'
    where exists (
      select 1 from pg_catalog.pg_locks l
      where l.locktype = 'advisory' and l.pid = p_lock_pid and l.granted
        and l.classid = 29799 and l.objsubid = 2
        and l.objid = pg_catalog.hashtext(w."accountId"::text)::oid)
  ), camps as (
    select w.acc, w.lim, c.id as cid, c.crank, coalesce((w.queued ->> c.id::text)::integer, 0) as have,
      -- what the campaign's own cap sends in half its jobs' expiry (at most a minute), so each
      -- claimed job is sent (and settled) before pg-boss would expire it
      case when c.rate_per_minute is not null
        then ceil(c.rate_per_minute * least(60, q.expire_seconds / 2.0) / 60)::integer end as cap
    from wants w
    join pgboss.queue q on q.name = private.delivery_queue(w.acc)
    cross join lateral (
      select c.id, c.rate_per_minute, row_number() over (order by c.started_at, c.id) as crank
      from public.campaigns c
      where c.account_id = w.acc and c.state = 'running'
      order by c.started_at, c.id limit p_campaigns) c
  ), cand as (
    select k.acc, k.lim, k.crank, k.have, j.id as jid, j.created_on
    from camps k
    cross join lateral (
      select j.id, j.created_on from pgboss.job j
      where j.name = private.delivery_queue(k.acc) and j.group_id = k.cid::text
        and j.state < 'active' and not j.blocked and j.start_after <= pgboss.job_now()
      order by j.created_on
      limit greatest(0, least(k.lim, coalesce(k.cap - k.have, k.lim)))
      for update skip locked) j
  ), ranked as (
    select c.acc, c.lim, c.jid, c.crank,
      c.have + row_number() over (partition by c.acc, c.crank order by c.created_on) as nth
    from cand c
  ), tests as (
    select w.acc, j.id as jid
    from wants w
    cross join lateral (
      select j.id from pgboss.job j
      where j.name = private.delivery_queue(w.acc) and j.group_id = 'test'
        and j.state < 'active' and not j.blocked and j.start_after <= pgboss.job_now()
      order by j.created_on
      limit 5
      for update skip locked) j
  ), picked as (
    select r.acc, r.jid from (
      select k.acc, k.lim, k.jid, row_number() over (partition by k.acc order by k.nth, k.crank) as arank
      from ranked k) r
    where r.arank <= r.lim
    union all
    select t.acc, t.jid from tests t
  ), activated as (
    update pgboss.job j set state = 'active', started_on = pgboss.job_now(),
      heartbeat_on = pgboss.job_now(),
      retry_count = case when j.started_on is not null then j.retry_count + 1 else j.retry_count end
    from picked p
    where j.name = private.delivery_queue(p.acc) and j.id = p.jid
    returning j.id, (j.data ->> 'deliveryId')::uuid as did, (j.data ->> 'testSendId')::uuid as tid,
      j.created_on
  )
  select a.id, d.id, d.campaign_id, c.account_id,
    case when d.state = 'pending' and d.job_id = a.id and c.state = 'running'
      then 'send' else 'skip' end,
    case
      when d.state <> 'pending' then 'delivery ' || d.state
      when d.job_id is distinct from a.id then 'stale job'
      when c.state <> 'running' then 'campaign ' || c.state
    end,
    d.channel_id, d.peer, ap.telegram_id, ap.access_hash, d.random_id, d.attempts,
    c.message_text, c.parse_mode, c.silent, c.link_preview, c.rate_per_minute,
    c.failed_count - c.failed_at_resume, c.max_errors,
    c.media_path, c.media_kind, c.media_mime, c.media_size, mr.ref
  from activated a
  join public.deliveries d on d.id = a.did
  join public.campaigns c on c.id = d.campaign_id
  left join private.account_peers ap on ap.account_id = c.account_id and ap.channel_id = d.channel_id
  left join private.campaign_media_refs mr on mr.campaign_id = c.id and mr.account_id = c.account_id
  union all
  select a.id, t.id, t.campaign_id, t.account_id,
    case when t.state = 'pending' then 'test' else 'skip' end,
    case when t.state <> 'pending' then 'test ' || t.state
      when a.created_on < now() - interval '60 seconds' then 'expired' end,
    t.channel_id, t.peer, ap.telegram_id, ap.access_hash, t.random_id, 0,
    c.message_text, c.parse_mode, c.silent, c.link_preview, null::integer, 0, null::integer,
    c.media_path, c.media_kind, c.media_mime, c.media_size, mr.ref
  from activated a
  join public.campaign_test_sends t on t.id = a.tid
  join public.campaigns c on c.id = t.campaign_id
  left join private.account_peers ap on ap.account_id = t.account_id and ap.channel_id = t.channel_id
  left join private.campaign_media_refs mr on mr.campaign_id = c.id and mr.account_id = t.account_id;
end $function$;

