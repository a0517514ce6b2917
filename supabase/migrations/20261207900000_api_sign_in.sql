-- Signing a Telegram account in through the API (docs/decisions.md, "Sign-in through the API").
--
-- The function (as the signed-in user) queues one step at a time: `phone` or `bot` starts a
-- sign-in, `code` and `password` continue it. A worker takes the step, asks Telegram, and answers
-- with the next state, which the function returns and the account row shows (`login`).
--
-- Secrets in transit: the phone number, bot token, code and password travel sealed for the
-- workers (X25519 + HKDF-SHA256 + AES-256-GCM to a public key the workers publish here; only they
-- hold the private key). The sealed bytes live in private.login_steps, which no client role can
-- read; a worker's take clears them, and a step left untaken is deleted after 10 minutes.
--
-- A sign-in in progress lives in one worker's memory (its MTProto connection, the phone_code_hash,
-- the DC after PHONE_MIGRATE): the code and password steps are for that worker only.

alter table public.telegram_accounts add column login jsonb;
comment on column public.telegram_accounts.login is
  'The sign-in through the API, as the worker last answered it (no secret: the phone is masked).';

-- The workers' public keys -------------------------------------------------------------------
create table private.login_keys (
  key_id text primary key check (key_id ~ '^[0-9a-f]{16}$'),
  -- a raw X25519 public key
  public_key bytea not null check (octet_length(public_key) = 32),
  published_at timestamptz not null default clock_timestamp()
);
alter table private.login_keys enable row level security;
revoke all on private.login_keys from public, anon, authenticated, service_role;

create function public.worker_publish_login_key(p_key_id text, p_public_key bytea) returns void
language sql security definer set search_path = '' as $$
  insert into private.login_keys (key_id, public_key) values (p_key_id, p_public_key)
  on conflict (key_id) do update set published_at = clock_timestamp()
$$;

-- The key the function seals for: the one a worker published last. A public key is no secret.
create function public.login_public_key() returns table (key_id text, public_key bytea)
language sql stable security definer set search_path = '' as $$
  select key_id, public_key from private.login_keys order by published_at desc limit 1
$$;

-- Sign-ins in progress and their steps -------------------------------------------------------
-- How long a sign-in may wait for its next step (and a sealed secret for a worker).
create function private.login_ttl() returns interval
language sql immutable as $$ select interval '10 minutes' $$;

create table private.account_logins (
  account_id uuid primary key references public.telegram_accounts (id) on delete cascade,
  owner_id uuid not null,
  -- the worker holding the sign-in's MTProto client, once one took its first step
  worker_id uuid,
  expires_at timestamptz not null
);
alter table private.account_logins enable row level security;
revoke all on private.account_logins from public, anon, authenticated, service_role;

create table private.login_steps (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.telegram_accounts (id) on delete cascade,
  owner_id uuid not null,
  kind text not null check (kind in ('phone', 'bot', 'code', 'password')),
  key_id text not null check (key_id ~ '^[0-9a-f]{16}$'),
  -- ephemeral public key (32) || nonce (12) || ciphertext and tag; null once a worker took it
  sealed bytea check (octet_length(sealed) between 61 and 2048),
  taken_at timestamptz,
  answer jsonb,
  created_at timestamptz not null default clock_timestamp()
);
create index login_steps_open on private.login_steps (created_at) where taken_at is null;
alter table private.login_steps enable row level security;
revoke all on private.login_steps from public, anon, authenticated, service_role;

-- Wrong codes and passwords, counted before Telegram is asked again.
create table private.login_failures (
  owner_id uuid not null,
  account_id uuid not null references public.telegram_accounts (id) on delete cascade,
  at timestamptz not null default clock_timestamp()
);
create index login_failures_owner on private.login_failures (owner_id, at);
create index login_failures_account on private.login_failures (account_id, at);
alter table private.login_failures enable row level security;
revoke all on private.login_failures from public, anon, authenticated, service_role;

insert into private.quota_limits (name, value, description) values
  ('login_failures_per_account', 5, 'wrong sign-in codes or passwords per account per hour'),
  ('login_failures', 20, 'wrong sign-in codes or passwords per user per hour')
on conflict (name) do nothing;

create function private.check_login_failures(p_owner uuid, p_account uuid) returns void
language plpgsql stable security definer set search_path = '' as $$
declare
  v_account integer := private.quota(p_owner, 'login_failures_per_account');
  v_user integer := private.quota(p_owner, 'login_failures');
begin
  if (select count(*) from private.login_failures
      where account_id = p_account and at > now() - interval '1 hour') >= v_account then
    raise exception 'too many wrong codes or passwords for this account: at most % per hour; try again later', v_account
      using errcode = 'PT429', detail = jsonb_build_object('quota', 'login_failures_per_account', 'limit', v_account)::text;
  end if;
  if (select count(*) from private.login_failures where owner_id = p_owner and at > now() - interval '1 hour') >= v_user then
    raise exception 'too many wrong codes or passwords: at most % per hour for all your accounts; try again later', v_user
      using errcode = 'PT429', detail = jsonb_build_object('quota', 'login_failures', 'limit', v_user)::text;
  end if;
end $$;

-- Queues a step of the caller's account for the workers and wakes them. `identity` is what the
-- account shows of the phone or bot (masked by the function); null for code and password.
create function public.request_login_step(
  p_account_id uuid, p_kind text, p_key_id text, p_sealed bytea, p_identity text default null
) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  v_owner uuid := auth.uid();
  v_login private.account_logins;
  v_state text;
  v_id uuid;
begin
  perform 1 from public.telegram_accounts where id = p_account_id and owner_id = v_owner for update;
  if not found then
    raise exception 'account not found' using errcode = 'PT404';
  end if;
  -- A worker gives up on a step after 25 s and the function waits 30 s: one older than a minute
  -- with no answer was lost with its worker, and blocks nothing.
  if exists (select 1 from private.login_steps where account_id = p_account_id and answer is null
             and coalesce(taken_at, created_at) > now() - interval '1 minute') then
    raise exception 'a sign-in step of this account is in progress; wait for its answer'
      using errcode = 'PT409';
  end if;
  if p_kind in ('phone', 'bot') then
    delete from private.login_steps where account_id = p_account_id;
    insert into private.account_logins (account_id, owner_id, expires_at)
    values (p_account_id, v_owner, now() + private.login_ttl())
    on conflict (account_id) do update set worker_id = null, expires_at = excluded.expires_at;
    update public.telegram_accounts set login = jsonb_build_object('state', 'pending', 'method', p_kind,
      'identity', left(p_identity, 40), 'updatedAt', now())
    where id = p_account_id;
  else
    select * into v_login from private.account_logins where account_id = p_account_id and expires_at > now();
    v_state := (select login ->> 'state' from public.telegram_accounts where id = p_account_id);
    if v_login.worker_id is null
       or v_state is distinct from (case p_kind when 'code' then 'code_sent' else 'password_needed' end) then
      raise exception 'no sign-in of this account waits for a %: start one with POST /accounts/%/login', p_kind, p_account_id
        using errcode = 'PT409', detail = jsonb_build_object('field', p_kind)::text;
    end if;
    perform private.lock_owner_quotas(v_owner);
    perform private.check_login_failures(v_owner, p_account_id);
  end if;
  insert into private.login_steps (account_id, owner_id, kind, key_id, sealed)
  values (p_account_id, v_owner, p_kind, p_key_id, p_sealed) returning id into v_id;
  perform pg_notify(private.pgboss_notify_channel(), 'login');
  return v_id;
end $$;

-- The worker's answer to the caller's step, or null while there is none. An answered step is
-- deleted as it is read.
create function public.login_step_answer(p_step_id uuid) returns jsonb
language sql security definer set search_path = '' as $$
  delete from private.login_steps where id = p_step_id and owner_id = auth.uid() and answer is not null
  returning answer
$$;

-- The caller gave up waiting: a step no worker took is withdrawn (true); a taken one will be answered.
create function public.withdraw_login_step(p_step_id uuid) returns boolean
language sql security definer set search_path = '' as $$
  with d as (delete from private.login_steps where id = p_step_id and owner_id = auth.uid() and taken_at is null returning 1)
  select exists (select 1 from d)
$$;

-- The worker side ----------------------------------------------------------------------------
-- Takes open steps this worker may perform: any first step sealed for a key it holds, and the later
-- steps of the sign-ins it holds. The sealed secret leaves the table with the take. Expired
-- sign-ins, steps and counted failures go first.
create function public.worker_take_login_steps(p_worker uuid, p_key_ids text[], p_limit integer default 10)
returns table (id uuid, account_id uuid, kind text, key_id text, sealed bytea, label text)
language plpgsql security definer set search_path = '' as $$
#variable_conflict use_column
begin
  update public.telegram_accounts a set login = a.login || jsonb_build_object('state', 'expired', 'updatedAt', now())
  from private.account_logins l
  where l.account_id = a.id and l.expires_at <= now() and a.login ->> 'state' in ('pending', 'code_sent', 'password_needed');
  delete from private.account_logins where expires_at <= now();
  delete from private.login_steps s where s.created_at <= now() - private.login_ttl();
  delete from private.login_failures f where f.at <= now() - interval '1 hour';
  return query
  with picked as (
    select s.id, s.sealed from private.login_steps s
    join private.account_logins l on l.account_id = s.account_id
    where s.taken_at is null and s.key_id = any (p_key_ids)
      and (s.kind in ('phone', 'bot') or l.worker_id = p_worker)
    order by s.created_at
    limit p_limit
    for update of s skip locked
  ), taken as (
    update private.login_steps s set taken_at = clock_timestamp(), sealed = null
    from picked where s.id = picked.id
    returning s.id, s.account_id, s.kind, s.key_id, picked.sealed
  ), held as (
    update private.account_logins l set worker_id = p_worker
    from taken where l.account_id = taken.account_id and taken.kind in ('phone', 'bot')
  )
  select t.id, t.account_id, t.kind, t.key_id, t.sealed, a.label
  from taken t join public.telegram_accounts a on a.id = t.account_id;
end $$;

-- Records the answer to a step: the account's login state (shown and broadcast), a wrong code or
-- password counted, and a sign-in that ended (signed in or failed for good) no longer held.
create function public.worker_answer_login_step(
  p_step_id uuid, p_answer jsonb, p_wrong_secret boolean, p_finished boolean
) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_step private.login_steps;
begin
  update private.login_steps set answer = p_answer where id = p_step_id returning * into v_step;
  if not found then
    return; -- withdrawn or expired meanwhile: the account was answered by a newer step
  end if;
  -- What earlier steps answered (the code type, the hint) stays; an error lasts until the next answer.
  update public.telegram_accounts
  set login = coalesce(login, '{}') || '{"error": null}' || p_answer || jsonb_build_object('updatedAt', now(),
    'expiresAt', case when p_finished then null
      else (select expires_at from private.account_logins where account_id = v_step.account_id) end)
  where id = v_step.account_id;
  if p_wrong_secret then
    insert into private.login_failures (owner_id, account_id) values (v_step.owner_id, v_step.account_id);
  end if;
  if p_finished then
    delete from private.account_logins where account_id = v_step.account_id;
  end if;
end $$;

-- Realtime -----------------------------------------------------------------------------------
-- Login changes reach the owner like campaign progress: a broadcast on the private topic
-- `account:<id>` (event `login`), and Postgres Changes of the table (filtered by its RLS).
do $$
begin
  if not exists (select 1 from pg_publication_tables
                 where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'telegram_accounts') then
    alter publication supabase_realtime add table public.telegram_accounts;
  end if;
end $$;

create function private.broadcast_account_login() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform realtime.send(jsonb_build_object('accountId', new.id, 'login', new.login), 'login',
    'account:' || new.id::text, true);
  return null;
end $$;
create trigger telegram_accounts_broadcast_login after update of login on public.telegram_accounts
  for each row when (old.login is distinct from new.login)
  execute function private.broadcast_account_login();

create policy account_owner_receives_login on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and realtime.messages.topic = (select realtime.topic())
    and exists (
      select 1 from public.telegram_accounts a
      where a.owner_id = (select auth.uid())
        and a.id = (select case
          when realtime.topic() ~ '^account:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          then substr(realtime.topic(), 9)::uuid end)
    )
  );

-- Grants -------------------------------------------------------------------------------------
revoke execute on function private.login_ttl(), private.check_login_failures(uuid, uuid),
  private.broadcast_account_login() from public, anon, authenticated;
revoke execute on function public.worker_publish_login_key(text, bytea), public.login_public_key(),
  public.request_login_step(uuid, text, text, bytea, text), public.login_step_answer(uuid),
  public.withdraw_login_step(uuid), public.worker_take_login_steps(uuid, text[], integer),
  public.worker_answer_login_step(uuid, jsonb, boolean, boolean)
  from public, anon, authenticated;
grant execute on function public.login_public_key(), public.request_login_step(uuid, text, text, bytea, text),
  public.login_step_answer(uuid), public.withdraw_login_step(uuid)
  to authenticated;
grant execute on function public.worker_publish_login_key(text, bytea), public.worker_take_login_steps(uuid, text[], integer),
  public.worker_answer_login_step(uuid, jsonb, boolean, boolean)
  to service_role;
