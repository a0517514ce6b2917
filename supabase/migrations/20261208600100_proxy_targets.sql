-- An account's proxy is a host and port the owner chooses, and the worker connects there: a proxy
-- may not point into a private network (the worker's own, the database's, a cloud's metadata
-- address), as webhooks may not. This SQL refuses what it can see without DNS: an address in a
-- non-public range, a number resolvers read as one (2130706433 is 127.0.0.1), and the names of
-- local networks. The worker resolves the host before every connection and refuses private
-- addresses again (PROXY_ALLOW_PRIVATE_TARGETS). Local development and tests turn both off.
create table private.proxy_settings (
  singleton boolean primary key default true check (singleton),
  allow_private_targets boolean not null default false
);
insert into private.proxy_settings default values;
revoke all on private.proxy_settings from public, anon, authenticated;

-- Raises PT422 naming `host` when the host is not a public address or name.
create function private.check_proxy_host(p_host text) returns void
language plpgsql stable security definer set search_path = '' as $$
declare
  v_host text := lower(p_host);
  v_last text := substring(lower(p_host) from '([^.]*)\.?$');
  v_problem text;
begin
  if (select allow_private_targets from private.proxy_settings) then
    return;
  end if;
  if v_host ~ ':' or v_last ~ '^([0-9]+|0x[0-9a-f]*)$' then
    begin
      if v_host !~ ':' and v_host !~ '^[0-9]{1,3}(\.[0-9]{1,3}){3}$' then
        v_problem := 'an IPv4 address must be written as four decimal numbers';
      elsif not private.is_public_address(v_host::inet) then
        v_problem := 'must not point to a private, loopback, link-local or reserved address';
      end if;
    exception when invalid_text_representation then
      v_problem := 'has an invalid IP address';
    end;
  elsif v_host = 'localhost' or v_host ~ '\.(localhost|local|internal|localdomain|home\.arpa)\.?$' or v_host !~ '\.' then
    v_problem := 'must be a public host name';
  end if;
  if v_problem is not null then
    raise exception 'host %', v_problem using errcode = 'PT422', detail = '{"field":"host"}';
  end if;
end $$;
revoke execute on function private.check_proxy_host(text) from public, anon, authenticated;

-- As in 20261208400000, and a new proxy's host is checked (the raise undoes the update).
create or replace function public.set_account_proxy(
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
  if p_shown is not null then
    perform private.check_proxy_host(p_shown ->> 'host');
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
