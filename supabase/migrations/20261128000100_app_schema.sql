-- Application tables. Every row has an owner; RLS on every table; grants are explicit
-- because new Supabase projects no longer grant public tables to API roles by default.
-- Clients may write channels, batches and templates directly (RLS + constraints are the
-- rules); campaigns, deliveries and account state change only through the RPCs of the
-- next migration, so the state machine and the counters cannot be bypassed.

create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- updated_at maintenance shared by every table that has the column.
-- clock_timestamp(): a worker's batch transaction starts before its sends, and now() would date
-- a row's change before the send it records.
create function private.touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := clock_timestamp();
  return new;
end $$;

-- Canonical form of a Telegram peer, so one channel is stored once whatever link form
-- was typed: '@username' (lower case), '+invitehash' (case kept), or a '-100…' / '-…' chat id.
-- Raises 22023 with the reason for anything else; NULL in, NULL out.
create function public.normalize_peer(p_peer text) returns text
language plpgsql immutable set search_path = '' as $$
declare
  v text := btrim(coalesce(p_peer, ''));
  m text[];
begin
  if p_peer is null then
    return null;
  end if;
  if v = '' then
    raise exception 'peer is empty' using errcode = '22023';
  end if;
  -- links: https://t.me/x, t.me/x, telegram.me/x, tg://resolve?domain=x
  v := regexp_replace(v, '^(https?://)?(www\.)?(t\.me|telegram\.me|telegram\.dog)/', 'tme:', 'i');
  m := regexp_match(v, '^tg://resolve\?domain=([A-Za-z0-9_]+)', 'i');
  if m is not null then
    v := '@' || m[1];
  end if;
  m := regexp_match(v, '^tme:(\+|joinchat/)([A-Za-z0-9_-]{8,64})/?$');
  if m is not null then
    return '+' || m[2];
  end if;
  m := regexp_match(v, '^tme:(s/)?([A-Za-z0-9_]+)(/[0-9]+)?/?$');
  if m is not null then
    v := '@' || m[2];
  end if;
  if v ~ '^\+[A-Za-z0-9_-]{8,64}$' then
    return v;
  end if;
  if v ~ '^-100[0-9]{6,16}$' or v ~ '^-[1-9][0-9]{4,15}$' then
    return v;
  end if;
  if v !~ '^@' and v ~ '^[A-Za-z]' then
    v := '@' || v;
  end if;
  if v ~ '^@[A-Za-z][A-Za-z0-9_]{3,31}$' and v !~ '__' and v !~ '_$' then
    return lower(v);
  end if;
  raise exception 'not a Telegram peer: "%" (use @username, t.me/name, t.me/+invite or a -100… chat id)', left(p_peer, 80)
    using errcode = '22023';
end $$;

-- Telegram accounts. The session string is never stored here: it is a secret of the worker,
-- matched to a row by id. Status and flood state are written only by the worker's RPCs.
create table public.telegram_accounts (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  label text not null check (char_length(label) between 1 and 100),
  status text not null default 'active'
    check (status in ('active', 'flood_wait', 'peer_flood', 'revoked', 'disabled')),
  status_reason text check (char_length(status_reason) <= 500),
  flood_wait_until timestamptz,
  rate_per_minute integer not null default 20 check (rate_per_minute between 1 and 1000000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, owner_id),
  check ((status = 'flood_wait') = (flood_wait_until is not null))
);
create index telegram_accounts_owner on public.telegram_accounts (owner_id, created_at);

create table public.channels (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  peer text not null check (peer = public.normalize_peer(peer)),
  peer_kind text generated always as (
    case when peer like '@%' then 'username' when peer like '+%' then 'invite' else 'id' end
  ) stored,
  title text check (char_length(title) between 1 and 255),
  tags text[] not null default '{}' check (cardinality(tags) <= 20),
  -- filled by the worker once Telegram resolved the peer, reused without network afterwards
  telegram_id bigint,
  access_hash bigint,
  resolved_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (owner_id, peer),
  unique (id, owner_id)
);
create index channels_owner_created on public.channels (owner_id, created_at, id);

-- Peers are normalised on the way in, so `insert ... values ('t.me/Name')` stores '@name'
-- and the unique constraint catches every spelling of one channel.
create function private.channels_normalize() returns trigger
language plpgsql as $$
begin
  new.peer := public.normalize_peer(new.peer);
  if tg_op = 'UPDATE' and new.peer is distinct from old.peer then
    new.telegram_id := null;
    new.access_hash := null;
    new.resolved_at := null;
  end if;
  return new;
end $$;
create trigger channels_normalize before insert or update of peer on public.channels
  for each row execute function private.channels_normalize();

create table public.batches (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (owner_id, name),
  unique (id, owner_id)
);

-- Composite keys make cross-owner membership impossible, whoever inserts.
create table public.batch_channels (
  batch_id uuid not null,
  channel_id uuid not null,
  owner_id uuid not null default auth.uid(),
  added_at timestamptz not null default now(),
  primary key (batch_id, channel_id),
  foreign key (batch_id, owner_id) references public.batches (id, owner_id) on delete cascade,
  foreign key (channel_id, owner_id) references public.channels (id, owner_id) on delete cascade
);
create index batch_channels_channel on public.batch_channels (channel_id);

create table public.templates (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 200),
  text text not null check (char_length(text) between 1 and 4096),
  parse_mode text not null default 'plain' check (parse_mode in ('html', 'markdown', 'plain')),
  silent boolean not null default false,
  link_preview boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (owner_id, name),
  unique (id, owner_id)
);
create index templates_owner_created on public.templates (owner_id, created_at, id);

create table public.campaigns (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 200),
  -- null only once the campaign is over and its account was deleted
  account_id uuid,
  template_id uuid,
  -- snapshot of the message at creation: editing the template later changes nothing here
  message_text text not null check (char_length(message_text) between 1 and 4096),
  parse_mode text not null check (parse_mode in ('html', 'markdown', 'plain')),
  silent boolean not null default false,
  link_preview boolean not null default true,
  state text not null default 'draft'
    check (state in ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
  pause_reason text check (pause_reason in ('manual', 'flood_wait', 'error_threshold', 'account')),
  resume_at timestamptz,
  rate_per_minute integer check (rate_per_minute between 1 and 1000000),
  max_errors integer check (max_errors >= 0),
  -- failures before the owner last resumed an error_threshold pause: max_errors counts anew from there
  failed_at_resume integer not null default 0 check (failed_at_resume >= 0),
  scheduled_at timestamptz,
  total_count integer not null default 0 check (total_count >= 0),
  pending_count integer not null default 0 check (pending_count >= 0),
  sent_count integer not null default 0 check (sent_count >= 0),
  failed_count integer not null default 0 check (failed_count >= 0),
  cancelled_count integer not null default 0 check (cancelled_count >= 0),
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, owner_id),
  foreign key (account_id, owner_id) references public.telegram_accounts (id, owner_id)
    on delete set null (account_id),
  check (account_id is not null or state in ('completed', 'cancelled')),
  foreign key (template_id, owner_id) references public.templates (id, owner_id)
    on delete set null (template_id),
  check ((state = 'paused') = (pause_reason is not null)),
  check (resume_at is null or pause_reason = 'flood_wait'),
  check (total_count = pending_count + sent_count + failed_count + cancelled_count)
);
create index campaigns_owner_created on public.campaigns (owner_id, created_at, id);
create index campaigns_account_state on public.campaigns (account_id, state);

-- One row per campaign target. random_id is fixed at creation and sent with every attempt,
-- so Telegram answers a repeated send with the first message instead of posting again.
create table public.deliveries (
  id uuid primary key default gen_random_uuid(),
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  owner_id uuid not null,
  channel_id uuid,
  peer text not null,
  state text not null default 'pending' check (state in ('pending', 'sent', 'failed', 'cancelled')),
  attempts integer not null default 0 check (attempts >= 0),
  random_id bigint not null check (random_id <> 0),
  -- the one pg-boss job allowed to act on this delivery; stale jobs see a different id and stop
  job_id uuid,
  telegram_message_id bigint,
  error_code text check (char_length(error_code) <= 100),
  error_message text check (char_length(error_message) <= 1000),
  next_attempt_at timestamptz,
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (campaign_id, channel_id),
  foreign key (channel_id, owner_id) references public.channels (id, owner_id)
    on delete set null (channel_id),
  check ((state = 'sent') = (telegram_message_id is not null))
);
create index deliveries_campaign_state on public.deliveries (campaign_id, state, id);

create table public.audit_log (
  id bigint generated always as identity primary key,
  owner_id uuid not null references auth.users (id) on delete cascade,
  actor uuid,
  action text not null,
  entity text not null,
  entity_id uuid,
  before jsonb,
  after jsonb,
  created_at timestamptz not null default now()
);
create index audit_log_owner_created on public.audit_log (owner_id, created_at desc);
create index audit_log_entity on public.audit_log (entity_id);

create trigger telegram_accounts_touch before update on public.telegram_accounts
  for each row execute function private.touch_updated_at();
create trigger channels_touch before update on public.channels
  for each row execute function private.touch_updated_at();
create trigger batches_touch before update on public.batches
  for each row execute function private.touch_updated_at();
create trigger templates_touch before update on public.templates
  for each row execute function private.touch_updated_at();
create trigger campaigns_touch before update on public.campaigns
  for each row execute function private.touch_updated_at();
create trigger deliveries_touch before update on public.deliveries
  for each row execute function private.touch_updated_at();

-- Audit of directly written resources (channels, batches, templates, accounts). Campaign
-- state changes are audited by the RPCs themselves, not per counter update.
create function private.audit_row() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  r record := case when tg_op = 'DELETE' then old else new end;
begin
  insert into public.audit_log (owner_id, actor, action, entity, entity_id, before, after)
  values (
    r.owner_id, auth.uid(), lower(tg_op), tg_table_name, r.id,
    case when tg_op <> 'INSERT' then to_jsonb(old) end,
    case when tg_op <> 'DELETE' then to_jsonb(new) end
  );
  return null;
end $$;
-- Updates of peer/title/tags only: the worker storing a resolved peer is not a user's action.
create trigger channels_audit after insert or update of peer, title, tags or delete on public.channels
  for each row execute function private.audit_row();
create trigger batches_audit after insert or update or delete on public.batches
  for each row execute function private.audit_row();
create trigger templates_audit after insert or update or delete on public.templates
  for each row execute function private.audit_row();
create trigger telegram_accounts_audit after insert or delete on public.telegram_accounts
  for each row execute function private.audit_row();

-- An account can go once its campaigns are over (they keep their history, account_id null);
-- with campaigns still to send, deleting it is refused with what to do instead.
create function private.telegram_accounts_before_delete() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  n integer;
begin
  select count(*) into n from public.campaigns
  where account_id = old.id and state not in ('completed', 'cancelled');
  if n > 0 then
    raise exception 'account % still has % campaign(s) that are not completed or cancelled: cancel them first', old.id, n
      using errcode = 'PT409';
  end if;
  -- its pg-boss queue (created with the account) holds no live job any more: drop it too
  perform pgboss.delete_queue('delivery.' || old.id::text);
  return old;
end $$;

-- Each account brings a pg-boss queue that maintenance visits: a bound keeps one user from
-- making thousands. Real deployments have a handful of accounts per owner.
create function private.telegram_accounts_limit() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform pg_advisory_xact_lock(hashtextextended('telegram_accounts:' || new.owner_id::text, 0));
  if (select count(*) from public.telegram_accounts where owner_id = new.owner_id) >= 50 then
    raise exception 'at most 50 Telegram accounts per user' using errcode = 'PT422',
      detail = '{"field":"label"}';
  end if;
  return new;
end $$;
create trigger telegram_accounts_limit before insert on public.telegram_accounts
  for each row execute function private.telegram_accounts_limit();
create trigger telegram_accounts_before_delete before delete on public.telegram_accounts
  for each row execute function private.telegram_accounts_before_delete();

-- RLS: owners see and touch only their rows; anon has no policy and so sees nothing.
alter table public.telegram_accounts enable row level security;
alter table public.channels enable row level security;
alter table public.batches enable row level security;
alter table public.batch_channels enable row level security;
alter table public.templates enable row level security;
alter table public.campaigns enable row level security;
alter table public.deliveries enable row level security;
alter table public.audit_log enable row level security;

create policy owner_all on public.channels for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy owner_all on public.batches for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy owner_all on public.batch_channels for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy owner_all on public.templates for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy owner_all on public.telegram_accounts for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy owner_read on public.campaigns for select to authenticated
  using (owner_id = (select auth.uid()));
create policy owner_read on public.deliveries for select to authenticated
  using (owner_id = (select auth.uid()));
create policy owner_read on public.audit_log for select to authenticated
  using (owner_id = (select auth.uid()));

revoke all on all tables in schema public from anon, authenticated;
grant select, insert, update, delete on public.batches, public.batch_channels, public.templates
  to authenticated;
-- What Telegram resolved a peer to is the worker's to write: a user editing telegram_id could
-- make the shown (and audited) peer differ from where messages go.
grant select, delete on public.channels to authenticated;
grant insert (owner_id, peer, title, tags), update (peer, title, tags) on public.channels to authenticated;
grant select, delete on public.telegram_accounts to authenticated;
grant insert (label, rate_per_minute), update (label, rate_per_minute)
  on public.telegram_accounts to authenticated;
grant select on public.campaigns, public.deliveries, public.audit_log to authenticated;
grant select, insert, update, delete on all tables in schema public to service_role;
grant execute on function public.normalize_peer(text) to anon, authenticated, service_role;
