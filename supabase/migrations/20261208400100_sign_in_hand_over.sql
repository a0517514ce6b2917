-- A sign-in survives the worker that started it (docs/decisions.md, "Sign-in hand-over").
--
-- Telegram's sign-in state is the phone_code_hash and the auth key the code was sent on (the code,
-- and after it the 2FA password, are accepted only on that key). After each step that leaves the
-- sign-in waiting, the worker stores that state here, sealed under WORKER_SESSION_KEY like a
-- session (AES-256-GCM, key id per row): the not yet authorized session string (auth key and DC),
-- the phone number, the phone_code_hash and the state. Any worker holding the key continues the
-- sign-in with the next step; the row goes with the sign-in (signed in, failed, or expired after
-- 10 minutes). No client role reads private.account_logins.

alter table private.account_logins
  add column state_key_id text check (state_key_id ~ '^[0-9a-f]{16}$'),
  add column state_nonce bytea check (octet_length(state_nonce) = 12),
  add column state_ciphertext bytea check (octet_length(state_ciphertext) between 17 and 65536),
  add check ((state_key_id is null) = (state_nonce is null) and (state_nonce is null) = (state_ciphertext is null));

-- Stores the sealed state of a sign-in in progress (replacing the previous one).
create function public.worker_store_login_state(p_account_id uuid, p_key_id text, p_nonce bytea, p_ciphertext bytea)
returns void
language sql security definer set search_path = '' as $$
  update private.account_logins set state_key_id = p_key_id, state_nonce = p_nonce, state_ciphertext = p_ciphertext
  where account_id = p_account_id
$$;

-- As before, with two changes: a later step (code, password) is taken by any worker once the
-- sign-in's state is stored, not only by the worker that started it, and it comes with that state.
drop function public.worker_take_login_steps(uuid, text[], integer);
create function public.worker_take_login_steps(p_worker uuid, p_key_ids text[], p_limit integer default 10)
returns table (
  id uuid, account_id uuid, kind text, key_id text, sealed bytea, label text,
  state_key_id text, state_nonce bytea, state_ciphertext bytea
)
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
      and (s.kind in ('phone', 'bot') or l.worker_id = p_worker or l.state_ciphertext is not null)
    order by s.created_at
    limit p_limit
    for update of s skip locked
  ), taken as (
    update private.login_steps s set taken_at = clock_timestamp(), sealed = null
    from picked where s.id = picked.id
    returning s.id, s.account_id, s.kind, s.key_id, picked.sealed
  ), held as (
    update private.account_logins l set worker_id = p_worker,
      state_key_id = case when taken.kind in ('phone', 'bot') then null else l.state_key_id end,
      state_nonce = case when taken.kind in ('phone', 'bot') then null else l.state_nonce end,
      state_ciphertext = case when taken.kind in ('phone', 'bot') then null else l.state_ciphertext end
    from taken where l.account_id = taken.account_id
  )
  select t.id, t.account_id, t.kind, t.key_id, t.sealed, a.label, l.state_key_id, l.state_nonce, l.state_ciphertext
  from taken t join public.telegram_accounts a on a.id = t.account_id
  left join private.account_logins l on l.account_id = t.account_id;
end $$;

revoke execute on function public.worker_store_login_state(uuid, text, bytea, bytea),
  public.worker_take_login_steps(uuid, text[], integer)
  from public, anon, authenticated;
grant execute on function public.worker_store_login_state(uuid, text, bytea, bytea),
  public.worker_take_login_steps(uuid, text[], integer)
  to service_role;
