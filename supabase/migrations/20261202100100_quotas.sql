-- Per-user quotas, enforced here so they hold whoever writes (the functions, Supabase's Data API,
-- an RPC): channels, batches, members per batch and per user, templates, campaigns in draft and
-- the deliveries they hold, and deliveries pending across started campaigns. A refusal is
-- SQLSTATE PT422 (HTTP 422 through PostgREST and the functions), its message names the quota and
-- its limit, and DETAIL carries {"field", "quota", "limit"}.
--
-- The project owner changes a limit for everyone or for one user (SQL editor, as postgres):
--   update private.quota_limits set value = 500000 where name = 'channels';
--   insert into private.quota_overrides (owner_id, name, value) values ('<user id>', 'channels', 500000)
--     on conflict (owner_id, name) do update set value = excluded.value;

create table private.quota_limits (
  name text primary key,
  value integer not null check (value >= 0),
  description text not null
);
create table private.quota_overrides (
  owner_id uuid not null references auth.users (id) on delete cascade,
  name text not null references private.quota_limits (name) on delete cascade,
  value integer not null check (value >= 0),
  primary key (owner_id, name)
);
revoke all on private.quota_limits, private.quota_overrides from public, anon, authenticated;

-- Defaults sit above what the benchmarks and fault suite create per user (≤ 5,000 channels and
-- deliveries) and allow one campaign of the largest size (100,000 targets) to run.
insert into private.quota_limits (name, value, description) values
  ('channels', 100000, 'channels per user'),
  ('batches', 1000, 'batches per user'),
  ('batch_channels', 10000, 'channels in one batch'),
  ('batch_members', 200000, 'batch memberships per user, all batches together'),
  ('templates', 1000, 'templates per user'),
  ('draft_campaigns', 100, 'campaigns in draft per user'),
  ('draft_deliveries', 500000, 'deliveries held by the campaigns in draft of a user'),
  ('pending_deliveries', 200000, 'deliveries pending in the scheduled, running and paused campaigns of a user')
on conflict (name) do nothing;

create function private.quota(p_owner uuid, p_name text) returns integer
language sql stable security definer set search_path = '' as $$
  select coalesce(
    (select value from private.quota_overrides where owner_id = p_owner and name = p_name),
    (select value from private.quota_limits where name = p_name))
$$;

-- One lock per user for every quota check and membership count: checks of one user run one at a
-- time (so two concurrent inserts cannot both pass), and a single key cannot deadlock with itself.
create function private.lock_owner_quotas(p_owner uuid) returns void
language sql security definer set search_path = '' as $$
  select pg_advisory_xact_lock(hashtextextended('quota:' || p_owner::text, 0))
$$;

-- Raises PT422 when p_used (after the change) is over the owner's limit.
create function private.check_quota(p_owner uuid, p_name text, p_used bigint, p_field text) returns void
language plpgsql stable security definer set search_path = '' as $$
declare
  v_limit integer := private.quota(p_owner, p_name);
  v_what text := (select description from private.quota_limits where name = p_name);
begin
  if v_limit is not null and p_used > v_limit then
    raise exception 'quota exceeded: at most % % (quota "%"; this would make %)', v_limit, v_what, p_name, p_used
      using errcode = 'PT422',
        detail = jsonb_build_object('field', p_field, 'quota', p_name, 'limit', v_limit)::text,
        hint = 'delete some first, or ask the project owner to raise the limit';
  end if;
end $$;

-- Statement-level checks: one count per statement and owner, however many rows it inserted
-- (an import, a bulk insert through the Data API). The lock is taken after the rows are in, then
-- the count sees every committed row of the owner plus this statement's.
create function private.enforce_row_quota() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_owner uuid;
  v_used bigint;
  v_name text := tg_argv[0];
  v_field text := tg_argv[1];
begin
  for v_owner in select distinct owner_id from new_rows loop
    perform private.lock_owner_quotas(v_owner);
    execute format('select count(*) from public.%I where owner_id = $1', tg_table_name) into v_used using v_owner;
    perform private.check_quota(v_owner, v_name, v_used, v_field);
  end loop;
  return null;
end $$;
create trigger channels_quota after insert on public.channels referencing new table as new_rows
  for each statement execute function private.enforce_row_quota('channels', 'peer');
create trigger batches_quota after insert on public.batches referencing new table as new_rows
  for each statement execute function private.enforce_row_quota('batches', 'name');
create trigger templates_quota after insert on public.templates referencing new table as new_rows
  for each statement execute function private.enforce_row_quota('templates', 'name');

-- A batch's member count is kept on the batch, so lists show it without counting, and the
-- per-batch limit is checked on it. Not client-writable (column grants).
alter table public.batches add column channel_count integer not null default 0 check (channel_count >= 0);
create index batch_channels_owner on public.batch_channels (owner_id);
-- Counting members is not a user's edit of the batch: audit renames only (the insert and delete
-- of a batch are still audited); set_batch_channels audits a replaced membership itself.
drop trigger batches_audit on public.batches;
create trigger batches_audit after insert or update of name or delete on public.batches
  for each row execute function private.audit_row();
alter table public.batches disable trigger batches_touch;
update public.batches b set channel_count = x.n
from (select batch_id, count(*)::int as n from public.batch_channels group by batch_id) x
where b.id = x.batch_id;
alter table public.batches enable trigger batches_touch;

create function private.batch_channels_count() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_owner uuid;
  r record;
begin
  -- owner lock first, then batch rows: the same order as every other membership change
  for v_owner in select distinct owner_id from changed order by 1 loop
    perform private.lock_owner_quotas(v_owner);
  end loop;
  for r in
    with d as (select batch_id, count(*)::int as n from changed group by batch_id)
    update public.batches b
    set channel_count = b.channel_count + case when tg_op = 'INSERT' then d.n else -d.n end
    from d where b.id = d.batch_id
    returning b.owner_id, b.channel_count
  loop
    if tg_op = 'INSERT' then
      perform private.check_quota(r.owner_id, 'batch_channels', r.channel_count, 'channelIds');
    end if;
  end loop;
  if tg_op = 'INSERT' then
    for v_owner in select distinct owner_id from changed loop
      perform private.check_quota(v_owner, 'batch_members',
        (select coalesce(sum(channel_count), 0) from public.batches where owner_id = v_owner), 'channelIds');
    end loop;
  end if;
  return null;
end $$;
create trigger batch_channels_count_insert after insert on public.batch_channels
  referencing new table as changed for each statement execute function private.batch_channels_count();
create trigger batch_channels_count_delete after delete on public.batch_channels
  referencing old table as changed for each statement execute function private.batch_channels_count();

-- Replaces a batch's members: removes those not in the list and adds the new ones (two
-- statements, one count update each). Security definer so it can take the owner's quota lock
-- before the batch row (the order every membership change uses); every statement names the
-- caller as owner, so other users' batches and channels are "not found" as under RLS. One audit
-- row records the change of size.
create or replace function public.set_batch_channels(p_batch_id uuid, p_channel_ids uuid[]) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_uid uuid := private.require_user();
  v_ids uuid[] := array(select distinct x from unnest(coalesce(p_channel_ids, '{}')) x);
  v_unknown uuid[];
  v_before integer;
  v_after integer;
begin
  perform private.lock_owner_quotas(v_uid);
  -- touching the batch locks it and dates the membership change
  update public.batches set updated_at = clock_timestamp() where id = p_batch_id and owner_id = v_uid
  returning channel_count into v_before;
  if not found then
    raise exception 'batch not found' using errcode = 'PT404';
  end if;
  v_unknown := array(select x from unnest(v_ids) x
    where not exists (select 1 from public.channels c where c.id = x and c.owner_id = v_uid));
  if cardinality(v_unknown) > 0 then
    raise exception 'unknown channelIds: %', array_to_string(v_unknown[1:20], ', ') using errcode = 'PT422',
      detail = '{"field":"channelIds"}';
  end if;
  delete from public.batch_channels where batch_id = p_batch_id and channel_id <> all (v_ids);
  insert into public.batch_channels (batch_id, channel_id, owner_id)
  select p_batch_id, x, v_uid from unnest(v_ids) x
  on conflict (batch_id, channel_id) do nothing;
  select channel_count into v_after from public.batches where id = p_batch_id;
  perform private.audit(v_uid, 'set_channels', 'batches', p_batch_id,
    jsonb_build_object('channelCount', v_before), jsonb_build_object('channelCount', v_after));
  return v_after;
end $$;

-- Peers checked without raising, so an import validates every item in one statement instead of
-- one subtransaction per item. normalize_peer (used by the channels' check constraint) is this
-- function plus the raise, so the two cannot disagree.
create function public.try_normalize_peer(p_peer text, out peer text, out problem text)
language plpgsql immutable set search_path = '' as $$
declare
  v text := btrim(coalesce(p_peer, ''));
  m text[];
begin
  if p_peer is null then
    return;
  end if;
  if v = '' then
    problem := 'peer is empty';
    return;
  end if;
  -- links: https://t.me/x, t.me/x, telegram.me/x, tg://resolve?domain=x
  v := regexp_replace(v, '^(https?://)?(www\.)?(t\.me|telegram\.me|telegram\.dog)/', 'tme:', 'i');
  m := regexp_match(v, '^tg://resolve\?domain=([A-Za-z0-9_]+)', 'i');
  if m is not null then
    v := '@' || m[1];
  end if;
  m := regexp_match(v, '^tme:(\+|joinchat/)([A-Za-z0-9_-]{8,64})/?$');
  if m is not null then
    peer := '+' || m[2];
    return;
  end if;
  m := regexp_match(v, '^tme:(s/)?([A-Za-z0-9_]+)(/[0-9]+)?/?$');
  if m is not null then
    v := '@' || m[2];
  end if;
  if v ~ '^\+[A-Za-z0-9_-]{8,64}$' or v ~ '^-100[0-9]{6,16}$' or v ~ '^-[1-9][0-9]{4,15}$' then
    peer := v;
    return;
  end if;
  if v !~ '^@' and v ~ '^[A-Za-z]' then
    v := '@' || v;
  end if;
  if v ~ '^@[A-Za-z][A-Za-z0-9_]{3,31}$' and v !~ '__' and v !~ '_$' then
    peer := lower(v);
    return;
  end if;
  problem := format('not a Telegram peer: "%s" (use @username, t.me/name, t.me/+invite or a -100… chat id)', left(p_peer, 80));
end $$;

create or replace function public.normalize_peer(p_peer text) returns text
language plpgsql immutable set search_path = '' as $$
declare
  r record := public.try_normalize_peer(p_peer);
begin
  if r.problem is not null then
    raise exception '%', r.problem using errcode = '22023';
  end if;
  return r.peer;
end $$;

-- Bulk import with per-item errors; one bad peer does not reject the others. One insert for the
-- whole list: no subtransaction per item, and the channel quota is checked once.
create or replace function public.import_channels(p_peers text[]) returns jsonb
language plpgsql security invoker set search_path = '' as $$
declare
  v_uid uuid := private.require_user();
  v_result jsonb;
begin
  if cardinality(p_peers) > 1000 then
    raise exception 'at most 1000 peers per import, got %', cardinality(p_peers) using errcode = 'PT413';
  end if;
  with items as (
    select u.i, u.raw, n.peer, coalesce(n.problem, case when n.peer is null then 'peer is empty' end) as problem
    from unnest(coalesce(p_peers, '{}')) with ordinality as u (raw, i)
    cross join lateral public.try_normalize_peer(u.raw) n
  ), ins as (
    insert into public.channels (peer)
    select distinct peer from items where problem is null
    on conflict (owner_id, peer) do nothing
    returning 1
  )
  select jsonb_build_object(
    'created', (select count(*) from ins),
    'duplicates', count(*) filter (where problem is null) - (select count(*) from ins),
    'errors', coalesce(jsonb_agg(jsonb_build_object('index', i - 1, 'peer', raw, 'message', problem) order by i)
      filter (where problem is not null), '[]'))
  into v_result
  from items;
  return v_result;
end $$;

revoke execute on function private.quota(uuid, text), private.lock_owner_quotas(uuid),
  private.check_quota(uuid, text, bigint, text), private.enforce_row_quota(), private.batch_channels_count()
  from public, anon, authenticated;
grant execute on function public.try_normalize_peer(text) to anon, authenticated, service_role;
