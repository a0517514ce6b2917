-- Telegram sessions sealed in the database. A session string is a full takeover of its account,
-- so it is stored only as AES-256-GCM ciphertext under a key that only worker processes hold
-- (WORKER_SESSION_KEY): the database, the functions, a backup or a leaked database password
-- reveal no usable session. key_id names the key a row was sealed under (a short hash of the key,
-- never the key), so a worker holding old and new keys during a rotation opens either.
--
-- No grants and RLS without a policy: no client role reads the table. Only the security-definer
-- worker RPCs below, executable by service_role alone, read or write it.

create table private.account_sessions (
  account_id uuid primary key references public.telegram_accounts (id) on delete cascade,
  key_id text not null check (key_id ~ '^[0-9a-f]{16}$'),
  -- 96-bit GCM nonce, random per seal
  nonce bytea not null check (octet_length(nonce) = 12),
  -- ciphertext followed by the 16-byte GCM tag
  ciphertext bytea not null check (octet_length(ciphertext) between 17 and 65536),
  -- Room for a per-account proxy (SOCKS5 or MTProxy with its secret), sealed the same way.
  proxy_key_id text check (proxy_key_id ~ '^[0-9a-f]{16}$'),
  proxy_nonce bytea check (octet_length(proxy_nonce) = 12),
  proxy_ciphertext bytea check (octet_length(proxy_ciphertext) between 17 and 65536),
  sealed_at timestamptz not null default clock_timestamp(),
  check ((proxy_key_id is null) = (proxy_nonce is null) and (proxy_nonce is null) = (proxy_ciphertext is null))
);
alter table private.account_sessions enable row level security;
revoke all on private.account_sessions from public, anon, authenticated, service_role;

-- Stores (or replaces) an account's sealed session. A new session after a revoked one is a new
-- sign-in: the account is active again (its paused campaigns wait for their owner's resume).
create function public.worker_store_session(p_account_id uuid, p_key_id text, p_nonce bytea, p_ciphertext bytea)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  update public.telegram_accounts set status = 'active', status_reason = null
  where id = p_account_id and status = 'revoked';
  if not exists (select 1 from public.telegram_accounts where id = p_account_id) then
    raise exception 'account % not found', p_account_id using errcode = 'PT404';
  end if;
  insert into private.account_sessions (account_id, key_id, nonce, ciphertext)
  values (p_account_id, p_key_id, p_nonce, p_ciphertext)
  on conflict (account_id) do update set key_id = excluded.key_id, nonce = excluded.nonce,
    ciphertext = excluded.ciphertext, sealed_at = clock_timestamp();
end $$;

-- Re-seals a row under another key (rotation), only if it is still the one read (its nonce): a
-- session stored meanwhile is newer and is not overwritten. The proxy, when there is one, is
-- re-sealed with it. True when the row was re-sealed.
create function public.worker_reseal_session(
  p_account_id uuid, p_was_nonce bytea, p_key_id text, p_nonce bytea, p_ciphertext bytea,
  p_proxy_key_id text default null, p_proxy_nonce bytea default null, p_proxy_ciphertext bytea default null
) returns boolean
language sql security definer set search_path = '' as $$
  with r as (
    update private.account_sessions set key_id = p_key_id, nonce = p_nonce, ciphertext = p_ciphertext,
      proxy_key_id = p_proxy_key_id, proxy_nonce = p_proxy_nonce, proxy_ciphertext = p_proxy_ciphertext,
      sealed_at = clock_timestamp()
    where account_id = p_account_id and nonce = p_was_nonce
    returning 1
  )
  select exists (select 1 from r)
$$;

-- The sealed sessions of these accounts (those that have one); null = every stored session, of
-- the oldest accounts first, at most p_limit.
create function public.worker_sealed_sessions(p_account_ids uuid[], p_limit integer default 100000)
returns table (
  account_id uuid, key_id text, nonce bytea, ciphertext bytea,
  proxy_key_id text, proxy_nonce bytea, proxy_ciphertext bytea, sealed_at timestamptz
)
language sql stable security definer set search_path = '' as $$
  select s.account_id, s.key_id, s.nonce, s.ciphertext, s.proxy_key_id, s.proxy_nonce, s.proxy_ciphertext, s.sealed_at
  from private.account_sessions s join public.telegram_accounts a on a.id = s.account_id
  where p_account_ids is null or s.account_id = any (p_account_ids)
  order by a.created_at, a.id
  limit p_limit
$$;

-- The accounts that have a stored session (no ciphertext), oldest first, at most p_limit: what a
-- worker without an account list serves.
create function public.worker_session_accounts(p_limit integer)
returns table (account_id uuid, key_id text, sealed_at timestamptz)
language sql stable security definer set search_path = '' as $$
  select s.account_id, s.key_id, s.sealed_at
  from private.account_sessions s join public.telegram_accounts a on a.id = s.account_id
  order by a.created_at, a.id
  limit p_limit
$$;

-- Changes whenever a session is stored, re-sealed or deleted: workers look at it every couple of
-- seconds and re-read their accounts when it moved, so a new session is served within seconds.
create function public.worker_sessions_version() returns text
language sql stable security definer set search_path = '' as $$
  select count(*)::text || '/' || coalesce(max(sealed_at)::text, '') from private.account_sessions
$$;

-- A session Telegram revoked is useless and still a secret: the account is marked revoked and
-- its sealed session deleted, whoever records the status.
create or replace function public.worker_account_status(p_account_id uuid, p_status text, p_reason text)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_status not in ('active', 'peer_flood', 'revoked', 'frozen', 'disabled') then
    raise exception 'unknown account status %', p_status using errcode = '22023';
  end if;
  update public.telegram_accounts set status = p_status, status_reason = left(p_reason, 500),
    flood_wait_until = null
  where id = p_account_id;
  if not found then
    raise exception 'account % not found', p_account_id using errcode = 'PT404';
  end if;
  if p_status = 'revoked' then
    delete from private.account_sessions where account_id = p_account_id;
  end if;
  if p_status <> 'active' then
    perform private.pause_account_campaigns(p_account_id, 'account', null);
  end if;
end $$;

revoke execute on function public.worker_store_session(uuid, text, bytea, bytea),
  public.worker_reseal_session(uuid, bytea, text, bytea, bytea, text, bytea, bytea),
  public.worker_sealed_sessions(uuid[], integer), public.worker_session_accounts(integer),
  public.worker_sessions_version()
  from public, anon, authenticated;
grant execute on function public.worker_store_session(uuid, text, bytea, bytea),
  public.worker_reseal_session(uuid, bytea, text, bytea, bytea, text, bytea, bytea),
  public.worker_sealed_sessions(uuid[], integer), public.worker_session_accounts(integer),
  public.worker_sessions_version()
  to service_role;
