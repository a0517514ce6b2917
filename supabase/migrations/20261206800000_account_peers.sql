-- Telegram peers are resolved per account, and claims are sized by each campaign's own cap.
--
-- 1. Telegram gives every account its own access_hash for a channel or user: "Access hashes may
--    not be reused across different accounts or different sessions of the same account"
--    (core.telegram.org/api/peers, "Access hash"). One hash on the channel row, written by
--    whichever account resolved it first, made every other account's sends fail with
--    CHANNEL_INVALID. private.account_peers keeps, per account and channel, the id and hash that
--    account's own resolution returned; worker_take hands out the claiming account's. The same
--    page asks that id and hash be persisted and never deleted: each account resolves a channel
--    once (contacts.resolveUsername answers bursts with long FLOOD_WAITs), until its peer changes.
--    channels.access_hash is dropped: which account resolved the stored hashes was never
--    recorded, so none can be moved to the cache safely; each account resolves its channels once
--    more. channels.telegram_id (the same for every account) and resolved_at stay, informational.
-- 2. worker_take claimed up to the account's look-ahead from each campaign, whatever the
--    campaign's own cap: a 4/min campaign on a fast account held all its jobs for minutes, and
--    pg-boss expired and retried them while the worker still held them. A campaign with a cap
--    now has at most what that cap sends in half its jobs' expiry (a minute at most) claimed.

create table private.account_peers (
  account_id uuid not null references public.telegram_accounts (id) on delete cascade,
  channel_id uuid not null references public.channels (id) on delete cascade,
  telegram_id bigint not null,
  -- null for a basic group, which has none
  access_hash bigint,
  resolved_at timestamptz not null default now(),
  primary key (account_id, channel_id)
);
create index account_peers_channel on private.account_peers (channel_id);
-- Account-scoped secrets of the worker: no policy, so only the owner role and the service role
-- (through the worker RPCs below) ever read them.
alter table private.account_peers enable row level security;
revoke all on private.account_peers from public, anon, authenticated;

-- Resolutions of one account: kept for channels of the account's own owner only.
create or replace function public.worker_set_channel_peers(p_peers jsonb) returns void
language sql security definer set search_path = '' as $$
  with p as (
    select p."accountId" as account_id, p."channelId" as channel_id, p."telegramId" as telegram_id,
      p."accessHash" as access_hash
    from jsonb_to_recordset(p_peers) as p ("accountId" uuid, "channelId" uuid, "telegramId" bigint, "accessHash" bigint)
    join public.telegram_accounts a on a.id = p."accountId"
    join public.channels c on c.id = p."channelId" and c.owner_id = a.owner_id
  ), cached as (
    insert into private.account_peers (account_id, channel_id, telegram_id, access_hash)
    select account_id, channel_id, telegram_id, access_hash from p
    on conflict (account_id, channel_id) do update
      set telegram_id = excluded.telegram_id, access_hash = excluded.access_hash, resolved_at = now()
  )
  update public.channels c set telegram_id = p.telegram_id, resolved_at = now()
  from p where c.id = p.channel_id
$$;
revoke execute on function public.worker_set_channel_peers(jsonb) from public, anon, authenticated;
grant execute on function public.worker_set_channel_peers(jsonb) to service_role;

-- A channel whose peer changes is another chat: every account resolves it again.
create or replace function private.channels_normalize() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  new.peer := public.normalize_peer(new.peer);
  if tg_op = 'UPDATE' and new.peer is distinct from old.peer then
    new.telegram_id := null;
    new.resolved_at := null;
    delete from private.account_peers where channel_id = new.id;
  end if;
  return new;
end $$;
revoke execute on function private.channels_normalize() from public;

alter table public.channels drop column access_hash;

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
      case when c.rate_per_minute is null then w.lim
        else ceil(c.rate_per_minute * least(60, q.expire_seconds / 2.0) / 60)::integer end as cap
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
      limit greatest(0, least(k.lim, k.cap - k.have))
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
