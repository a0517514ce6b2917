-- A proxy per account (SOCKS5, or MTProxy with its secret) that the account's Telegram connections
-- go through (docs/decisions.md, "Per-account proxies").
--
-- The owner sets it through the API; the function seals it for the workers as it seals sign-in
-- secrets (X25519 to the workers' published key) and queues it here, in a table no client role
-- reads. A worker opens it and re-seals it under WORKER_SESSION_KEY into the account's sealed
-- session row (private.account_sessions.proxy_*, which `npm run accounts -- rotate-key` re-seals
-- with the session); until the account has a session it stays queued, and a sign-in goes through
-- it. What the account shows is type, host and port only (`proxy`), never a password or secret.

alter table public.telegram_accounts add column proxy jsonb
  check (proxy is null or (
    proxy ->> 'type' in ('socks5', 'mtproxy')
    and jsonb_typeof(proxy -> 'host') = 'string' and length(proxy ->> 'host') between 1 and 253
    and jsonb_typeof(proxy -> 'port') = 'number' and (proxy ->> 'port')::numeric between 1 and 65535
    and proxy - array['type', 'host', 'port'] = '{}'::jsonb
  ));
comment on column public.telegram_accounts.proxy is
  'The account''s proxy as the API shows it: type, host, port. Its credentials are sealed for the workers only.';

create table private.account_proxy_requests (
  account_id uuid primary key references public.telegram_accounts (id) on delete cascade,
  -- the workers' login key it was sealed for (private.login_keys)
  key_id text not null check (key_id ~ '^[0-9a-f]{16}$'),
  -- ephemeral public key (32) || nonce (12) || ciphertext and tag, as sign-in secrets
  sealed bytea not null check (octet_length(sealed) between 61 and 2048),
  requested_at timestamptz not null default clock_timestamp()
);
alter table private.account_proxy_requests enable row level security;
revoke all on private.account_proxy_requests from public, anon, authenticated, service_role;

-- Sets (p_shown and p_sealed) or clears (null) the caller's account's proxy. A cleared proxy is gone
-- at once, sealed forms included; a new one waits for a worker to re-seal it (woken by NOTIFY).
-- Either way the account's sealed row changes (sealed_at), so the workers serving it reconnect.
create function public.set_account_proxy(
  p_account_id uuid, p_shown jsonb, p_key_id text default null, p_sealed bytea default null
) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if (p_shown is null) <> (p_sealed is null) then
    raise exception 'a proxy needs both what is shown and its sealed form' using errcode = '22023';
  end if;
  update public.telegram_accounts set proxy = p_shown where id = p_account_id and owner_id = auth.uid();
  if not found then
    raise exception 'account not found' using errcode = 'PT404';
  end if;
  if p_shown is null then
    delete from private.account_proxy_requests where account_id = p_account_id;
    update private.account_sessions set proxy_key_id = null, proxy_nonce = null, proxy_ciphertext = null,
      sealed_at = clock_timestamp()
    where account_id = p_account_id and proxy_key_id is not null;
    return;
  end if;
  insert into private.account_proxy_requests (account_id, key_id, sealed) values (p_account_id, p_key_id, p_sealed)
  on conflict (account_id) do update set key_id = excluded.key_id, sealed = excluded.sealed,
    requested_at = clock_timestamp();
  perform pg_notify(private.pgboss_notify_channel(), 'login');
end $$;

-- Proxies queued for accounts that have a session, sealed for one of these login keys.
create function public.worker_proxy_requests(p_key_ids text[], p_limit integer default 100)
returns table (account_id uuid, key_id text, sealed bytea, requested_at timestamptz)
language sql stable security definer set search_path = '' as $$
  select r.account_id, r.key_id, r.sealed, r.requested_at
  from private.account_proxy_requests r
  where r.key_id = any (p_key_ids) and exists (select 1 from private.account_sessions s where s.account_id = r.account_id)
  order by r.requested_at
  limit p_limit
$$;

-- The account's proxy, re-sealed under the workers' session key, replaces the queued one, unless
-- another was queued or the proxy cleared since it was read (then nothing changes). True when stored.
create function public.worker_store_proxy(
  p_account_id uuid, p_requested_at timestamptz, p_key_id text, p_nonce bytea, p_ciphertext bytea
) returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  delete from private.account_proxy_requests where account_id = p_account_id and requested_at = p_requested_at;
  if not found then
    return false;
  end if;
  update private.account_sessions set proxy_key_id = p_key_id, proxy_nonce = p_nonce, proxy_ciphertext = p_ciphertext,
    sealed_at = clock_timestamp()
  where account_id = p_account_id;
  if not found then
    raise exception 'account % has no stored session to keep its proxy with', p_account_id using errcode = 'PT409';
  end if;
  return true;
end $$;

-- The account's proxy for a sign-in: the queued one (newest) and the one kept with its session.
create function public.worker_account_proxy(p_account_id uuid)
returns table (request_key_id text, request_sealed bytea, requested_at timestamptz, key_id text, nonce bytea, ciphertext bytea)
language sql stable security definer set search_path = '' as $$
  select r.key_id, r.sealed, r.requested_at, s.proxy_key_id, s.proxy_nonce, s.proxy_ciphertext
  from (select p_account_id as id) a
  left join private.account_proxy_requests r on r.account_id = a.id
  left join private.account_sessions s on s.account_id = a.id
$$;

revoke execute on function public.set_account_proxy(uuid, jsonb, text, bytea),
  public.worker_proxy_requests(text[], integer),
  public.worker_store_proxy(uuid, timestamptz, text, bytea, bytea),
  public.worker_account_proxy(uuid)
  from public, anon, authenticated;
grant execute on function public.set_account_proxy(uuid, jsonb, text, bytea) to authenticated;
grant execute on function public.worker_proxy_requests(text[], integer),
  public.worker_store_proxy(uuid, timestamptz, text, bytea, bytea),
  public.worker_account_proxy(uuid)
  to service_role;
