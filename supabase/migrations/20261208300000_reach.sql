-- Reach: the views, forwards and replies of every sent post, read by the worker that holds the
-- campaign's account (messages.getMessagesViews, increment false) and kept as samples, so growth
-- over time can be drawn.
--
--   private.reach_slots      one per campaign and 10-minute window of send times: its four rounds are queued once
--   public.reach_samples     one per post and sampling job: its figures at taken_at (or why there are none)
--   public.delivery_reach    each post's latest sample (what the reach page and the CSV show)
--   public.reach_rounds      one per finished sampling job: the campaign's totals at that time (the chart)
--   private.reach_refreshes  the owner's on-demand rounds (quota reach_refreshes per hour)
--
-- Rounds: the posts sent within a window [w, w + 10 min) are sampled 1 h, 6 h, 24 h and 72 h after
-- the window closes (each post between 1 h and 1 h 10 min after it was sent, and so on), one
-- pg-boss job of queue `reach` per window and round, queued in the transaction that records the
-- sends. An on-demand round covers every post sent so far.

create function private.reach_window() returns interval
language sql immutable as $$ select interval '10 minutes' $$;

create function private.reach_offsets() returns table (round text, after interval)
language sql immutable as $$
  values ('1h', interval '1 hour'), ('6h', interval '6 hours'), ('24h', interval '24 hours'), ('72h', interval '72 hours')
$$;

create table private.reach_slots (
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  window_start timestamptz not null,
  primary key (campaign_id, window_start)
);
revoke all on private.reach_slots from public, anon, authenticated;

create table public.reach_samples (
  delivery_id uuid not null references public.deliveries (id) on delete cascade,
  -- the round's job: a round taken again (a worker gone, a FLOOD_WAIT) samples each post once
  job_id uuid not null,
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  round text not null check (round in ('1h', '6h', '24h', '72h', 'refresh')),
  taken_at timestamptz not null,
  views integer check (views >= 0),
  forwards integer check (forwards >= 0),
  replies integer check (replies >= 0),
  -- no figures: Telegram's error for the post's channel, or NO_PEER / NOT_A_CHANNEL
  error_code text check (char_length(error_code) <= 100),
  primary key (delivery_id, job_id)
);
create index reach_samples_campaign on public.reach_samples (campaign_id, taken_at);

create table public.delivery_reach (
  delivery_id uuid primary key references public.deliveries (id) on delete cascade,
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  taken_at timestamptz not null,
  views integer,
  forwards integer,
  replies integer,
  error_code text,
  samples integer not null default 1
);
create index delivery_reach_campaign on public.delivery_reach (campaign_id, delivery_id);

create table public.reach_rounds (
  job_id uuid primary key,
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  round text not null,
  taken_at timestamptz not null,
  -- the campaign's totals at taken_at: every post's latest figures
  posts integer not null,
  views bigint not null,
  forwards bigint not null,
  replies bigint not null
);
create index reach_rounds_campaign on public.reach_rounds (campaign_id, taken_at);

create table private.reach_refreshes (
  owner_id uuid not null references auth.users (id) on delete cascade,
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  asked_at timestamptz not null default clock_timestamp()
);
create index reach_refreshes_owner on private.reach_refreshes (owner_id, asked_at);
revoke all on private.reach_refreshes from public, anon, authenticated;

-- The rounds' reads: a window's sent posts.
create index deliveries_sent on public.deliveries (campaign_id, sent_at) where state = 'sent';

alter table public.reach_samples enable row level security;
alter table public.delivery_reach enable row level security;
alter table public.reach_rounds enable row level security;
create policy owner_read on public.reach_samples for select to authenticated using (owner_id = (select auth.uid()));
create policy owner_read on public.delivery_reach for select to authenticated using (owner_id = (select auth.uid()));
create policy owner_read on public.reach_rounds for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.reach_samples, public.delivery_reach, public.reach_rounds from anon, authenticated;
grant select on public.reach_samples, public.delivery_reach, public.reach_rounds to authenticated;
grant select, insert, update, delete on public.reach_samples, public.delivery_reach, public.reach_rounds to service_role;

insert into private.quota_limits (name, value, description) values
  ('reach_refreshes', 20, 'on-demand reach rounds per user per hour')
on conflict (name) do nothing;

-- A sampling job is active while its worker reads (at most 300 calls of 100 posts, then it goes
-- back to the queue); one whose worker died comes back after expiry, retried up to 5 times.
select pgboss.create_queue('reach', jsonb_build_object(
  'policy', 'standard', 'retryLimit', 5, 'retryDelay', 60, 'retryBackoff', true,
  'expireInSeconds', 1800, 'retentionSeconds', 7 * 24 * 3600, 'deleteAfterSeconds', 7 * 24 * 3600,
  'notify', false));

create function private.reach_job(p_campaign_id uuid, p_round text, p_from timestamptz, p_to timestamptz)
returns jsonb
language sql immutable as $$
  select jsonb_build_array(jsonb_build_object('groupId', p_campaign_id::text, 'data',
    jsonb_build_object('campaignId', p_campaign_id, 'round', p_round, 'from', p_from, 'to', p_to)))
$$;

-- Posts recorded sent: their windows' four rounds, queued once per window.
create function private.deliveries_schedule_reach() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  r record;
begin
  for r in
    with slots as (
      insert into private.reach_slots (campaign_id, window_start)
      select distinct n.campaign_id, date_bin(private.reach_window(), n.sent_at, timestamptz 'epoch')
      from new_rows n where n.state = 'sent' and n.sent_at is not null
      on conflict do nothing
      returning campaign_id, window_start)
    select s.campaign_id, s.window_start, o.round, o.after from slots s cross join private.reach_offsets() o
  loop
    perform private.insert_jobs('reach',
      private.reach_job(r.campaign_id, r.round, r.window_start, r.window_start + private.reach_window()),
      r.window_start + private.reach_window() + r.after);
  end loop;
  return null;
end $$;
create trigger deliveries_schedule_reach after update on public.deliveries
  referencing new table as new_rows for each statement execute function private.deliveries_schedule_reach();

-- The owner asks for a round now (202): every post sent so far, sampled by the account's worker
-- at its reach pace. At most quota reach_refreshes per hour (429).
create function public.refresh_campaign_reach(p_campaign_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_owner uuid := private.require_user();
  v_limit integer := private.quota(v_owner, 'reach_refreshes');
  c public.campaigns;
begin
  select * into c from public.campaigns where id = p_campaign_id and owner_id = v_owner;
  if not found then
    raise exception 'campaign not found' using errcode = 'PT404';
  end if;
  if c.account_id is null then
    raise exception 'the campaign has no account to read its posts with' using errcode = 'PT409';
  end if;
  -- one count at a time per owner
  perform pg_advisory_xact_lock(hashtext('reach_refreshes'), hashtext(v_owner::text));
  if (select count(*) from private.reach_refreshes where owner_id = v_owner
      and asked_at > clock_timestamp() - interval '1 hour') >= v_limit then
    raise exception 'quota exceeded: at most % reach refreshes an hour (quota "reach_refreshes")', v_limit
      using errcode = 'PT429', detail = jsonb_build_object('quota', 'reach_refreshes', 'limit', v_limit)::text,
        hint = 'rounds are also taken 1 h, 6 h, 24 h and 72 h after each post';
  end if;
  insert into private.reach_refreshes (owner_id, campaign_id) values (v_owner, p_campaign_id);
  perform private.insert_jobs('reach', private.reach_job(p_campaign_id, 'refresh', '-infinity', clock_timestamp()));
  return jsonb_build_object('campaignId', p_campaign_id, 'queued', true);
end $$;

-- The worker: at most one due job per account it holds (its advisory lock held by p_lock_pid),
-- for accounts that are active and out of any FLOOD_WAIT; taken jobs are active.
create function public.worker_reach_take(p_lock_pid integer, p_account_ids uuid[])
returns table (job_id uuid, campaign_id uuid, account_id uuid, round text, sent_from timestamptz, sent_to timestamptz)
language plpgsql security definer set search_path = '' as $$
begin
  return query
  with held as (
    select a.id from public.telegram_accounts a
    where a.id = any (p_account_ids) and a.status = 'active'
      and exists (
        select 1 from pg_catalog.pg_locks l
        where l.locktype = 'advisory' and l.pid = p_lock_pid and l.granted
          and l.classid = 29799 and l.objsubid = 2 and l.objid = pg_catalog.hashtext(a.id::text)::oid)
  ), picked as (
    select h.id as acc, j.id as jid from held h
    cross join lateral (
      select j.id from pgboss.job j
      join public.campaigns c on c.id = (j.data ->> 'campaignId')::uuid
      where j.name = 'reach' and j.state < 'active' and j.start_after <= pgboss.job_now() and c.account_id = h.id
      order by j.start_after
      limit 1
      for update of j skip locked) j
  ), activated as (
    update pgboss.job j set state = 'active', started_on = pgboss.job_now(), heartbeat_on = pgboss.job_now(),
      retry_count = case when j.started_on is not null then j.retry_count + 1 else j.retry_count end
    from picked p where j.name = 'reach' and j.id = p.jid
    returning j.id, p.acc, j.data
  )
  select a.id, (a.data ->> 'campaignId')::uuid, a.acc, a.data ->> 'round',
    (a.data ->> 'from')::timestamptz, (a.data ->> 'to')::timestamptz
  from activated a;
end $$;

-- The next posts of an active job not yet sampled by it, with the account's peer for each
-- (null: the account never resolved the channel), ordered by peer so they group into calls.
create function public.worker_reach_targets(p_job_id uuid, p_limit integer)
returns table (delivery_id uuid, message_id bigint, telegram_id bigint, access_hash bigint)
language sql stable security definer set search_path = '' as $$
  select d.id, d.telegram_message_id, ap.telegram_id, ap.access_hash
  from pgboss.job j
  join public.campaigns c on c.id = (j.data ->> 'campaignId')::uuid
  join public.deliveries d on d.campaign_id = c.id and d.state = 'sent'
    and d.sent_at >= (j.data ->> 'from')::timestamptz and d.sent_at < (j.data ->> 'to')::timestamptz
  left join private.account_peers ap on ap.account_id = c.account_id and ap.channel_id = d.channel_id
  where j.name = 'reach' and j.id = p_job_id and j.state = 'active'
    and not exists (select 1 from public.reach_samples s where s.delivery_id = d.id and s.job_id = p_job_id)
  order by ap.telegram_id, d.telegram_message_id
  limit p_limit
$$;

-- Figures read by one call (or why none): kept as samples of the job, and as each post's latest.
create function public.worker_reach_store(p_job_id uuid, p_samples jsonb) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_round text := (select data ->> 'round' from pgboss.job where name = 'reach' and id = p_job_id);
begin
  with x as (
    select * from jsonb_to_recordset(p_samples) as x ("deliveryId" uuid, views integer, forwards integer,
      replies integer, "errorCode" text)
  ), added as (
    insert into public.reach_samples (delivery_id, job_id, campaign_id, owner_id, round, taken_at, views,
      forwards, replies, error_code)
    select d.id, p_job_id, d.campaign_id, d.owner_id, v_round, clock_timestamp(), x.views, x.forwards,
      x.replies, left(x."errorCode", 100)
    from x join public.deliveries d on d.id = x."deliveryId"
    on conflict do nothing
    returning *
  )
  insert into public.delivery_reach as r (delivery_id, campaign_id, owner_id, taken_at, views, forwards,
    replies, error_code)
  select a.delivery_id, a.campaign_id, a.owner_id, a.taken_at, a.views, a.forwards, a.replies, a.error_code
  from added a
  on conflict (delivery_id) do update set taken_at = excluded.taken_at,
    -- an error keeps the figures read before it
    views = coalesce(excluded.views, r.views), forwards = coalesce(excluded.forwards, r.forwards),
    replies = coalesce(excluded.replies, r.replies), error_code = excluded.error_code, samples = r.samples + 1;
end $$;

-- The job's posts are all sampled: it is completed and the campaign's totals recorded as a round,
-- sent to the owner's webhooks (reach.sampled) and to the campaign's Realtime topic (event reach).
create function public.worker_reach_finish(p_job_id uuid) returns void
language plpgsql security definer set search_path = '' as $$
declare
  j pgboss.job;
  r public.reach_rounds;
begin
  update pgboss.job set state = 'completed', completed_on = pgboss.job_now()
  where name = 'reach' and id = p_job_id and state = 'active' returning * into j;
  if not found then
    return;
  end if;
  insert into public.reach_rounds (job_id, campaign_id, owner_id, round, taken_at, posts, views, forwards, replies)
  select p_job_id, c.id, c.owner_id, j.data ->> 'round', clock_timestamp(), count(dr.delivery_id),
    coalesce(sum(dr.views), 0), coalesce(sum(dr.forwards), 0), coalesce(sum(dr.replies), 0)
  from public.campaigns c left join public.delivery_reach dr on dr.campaign_id = c.id
  where c.id = (j.data ->> 'campaignId')::uuid
  group by c.id
  returning * into r;
  if r.job_id is null then
    return; -- the campaign is gone
  end if;
  perform private.emit_webhook_event(r.owner_id, 'reach.sampled', jsonb_build_object('campaignId', r.campaign_id,
    'round', r.round, 'takenAt', r.taken_at, 'posts', r.posts, 'views', r.views, 'forwards', r.forwards,
    'replies', r.replies));
  perform realtime.send(jsonb_build_object('campaignId', r.campaign_id, 'round', r.round, 'takenAt', r.taken_at,
    'posts', r.posts, 'views', r.views, 'forwards', r.forwards, 'replies', r.replies),
    'reach', 'campaign:' || r.campaign_id::text, true);
end $$;

-- The job goes back to the queue until p_start_after: its account's FLOOD_WAIT on reads, its
-- connection gone, or its share of calls used up. What it sampled stays sampled.
create function public.worker_reach_defer(p_job_id uuid, p_start_after timestamptz) returns void
language sql security definer set search_path = '' as $$
  update pgboss.job set state = 'created', start_after = greatest(p_start_after, pgboss.job_now())
  where name = 'reach' and id = p_job_id and state = 'active'
$$;

revoke execute on function public.worker_reach_take(integer, uuid[]), public.worker_reach_targets(uuid, integer),
  public.worker_reach_store(uuid, jsonb), public.worker_reach_finish(uuid), public.worker_reach_defer(uuid, timestamptz)
  from public, anon, authenticated;
grant execute on function public.worker_reach_take(integer, uuid[]), public.worker_reach_targets(uuid, integer),
  public.worker_reach_store(uuid, jsonb), public.worker_reach_finish(uuid), public.worker_reach_defer(uuid, timestamptz)
  to service_role;
revoke execute on function public.refresh_campaign_reach(uuid) from public, anon;
grant execute on function public.refresh_campaign_reach(uuid) to authenticated, service_role;
revoke execute on function private.reach_window(), private.reach_offsets(), private.deliveries_schedule_reach(),
  private.reach_job(uuid, text, timestamptz, timestamptz) from public, anon, authenticated;
