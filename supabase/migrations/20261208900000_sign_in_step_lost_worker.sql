-- A sign-in step whose worker died while performing it (docs/decisions.md, "Sign-in step of a
-- worker that died").
--
-- A worker takes a step for the lock session it holds (its presence: `tg-worker shared` or
-- `tg-worker locks` in pg_stat_activity, see worker/src/fleet-share.ts); the step records that
-- session (pid and backend start, so a reused pid is not mistaken for it). Once that session is
-- gone and the step has no answer, its worker died in the middle of it:
--   - `bot` (auth.importBotAuthorization) and `password` (auth.checkPassword with a fresh SRP
--     challenge) are queued again for any worker: neither consumes its secret nor sends anything
--     to a person, so performing them twice is safe;
--   - `phone` (auth.sendCode: the code may have been sent, on a connection now lost) and `code`
--     (auth.signIn: Telegram may have consumed the code) are not performed again: the step is
--     answered STEP_INTERRUPTED at once, a `phone` step ending the sign-in, a `code` step leaving
--     it waiting for the code again.
-- The sealed secret therefore stays on the step until it is answered (no client role reads it).
-- Lost steps are looked for by every worker's take, by the caller's wait for the answer and
-- before a new step of the account is refused as "in progress".

alter table private.login_steps
  add column taken_pid integer,
  add column taken_backend_start timestamptz;

-- Requeues or answers the account's (or every account's) steps whose worker's session is gone.
create function private.recover_lost_login_steps(p_account_id uuid default null) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_step record;
  v_requeued boolean := false;
begin
  for v_step in
    select s.id, s.kind from private.login_steps s
    where s.taken_at is not null and s.answer is null and (p_account_id is null or s.account_id = p_account_id)
      and not exists (select 1 from pg_catalog.pg_stat_activity a
                      where a.pid = s.taken_pid and a.backend_start = s.taken_backend_start)
    for update of s skip locked
  loop
    if v_step.kind in ('bot', 'password') then
      update private.login_steps set taken_at = null, taken_pid = null, taken_backend_start = null
      where id = v_step.id;
      v_requeued := true;
    else
      perform public.worker_answer_login_step(v_step.id,
        jsonb_build_object('state', case v_step.kind when 'code' then 'code_sent' else 'failed' end,
          'error', jsonb_build_object('code', 'STEP_INTERRUPTED')),
        false, v_step.kind = 'phone');
    end if;
  end loop;
  if v_requeued then
    perform pg_notify(private.pgboss_notify_channel(), 'login');
  end if;
end $$;

-- As before (the sealed secret is cleared with the answer, not the take), recording the session
-- the step was taken for (the caller's own by default); a worker whose lock session is not open
-- takes nothing.
drop function public.worker_take_login_steps(uuid, text[], integer);
create function public.worker_take_login_steps(
  p_worker uuid, p_key_ids text[], p_limit integer default 10, p_lock_pid integer default pg_catalog.pg_backend_pid()
)
returns table (
  id uuid, account_id uuid, kind text, key_id text, sealed bytea, label text,
  state_key_id text, state_nonce bytea, state_ciphertext bytea
)
language plpgsql security definer set search_path = '' as $$
#variable_conflict use_column
declare
  v_started timestamptz := (select a.backend_start from pg_catalog.pg_stat_activity a where a.pid = p_lock_pid);
begin
  update public.telegram_accounts a set login = a.login || jsonb_build_object('state', 'expired', 'updatedAt', now())
  from private.account_logins l
  where l.account_id = a.id and l.expires_at <= now() and a.login ->> 'state' in ('pending', 'code_sent', 'password_needed');
  delete from private.account_logins where expires_at <= now();
  delete from private.login_steps s where s.created_at <= now() - private.login_ttl();
  delete from private.login_failures f where f.at <= now() - interval '1 hour';
  perform private.recover_lost_login_steps();
  if v_started is null then
    return;
  end if;
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
    update private.login_steps s set taken_at = clock_timestamp(), taken_pid = p_lock_pid, taken_backend_start = v_started
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

-- The secret goes with the answer.
create function private.clear_answered_login_secret() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  new.sealed := null;
  return new;
end $$;
create trigger login_steps_clear_answered_secret before update of answer on private.login_steps
  for each row when (new.answer is not null)
  execute function private.clear_answered_login_secret();

-- As before, after looking whether the step's worker died performing it.
create or replace function public.login_step_answer(p_step_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_answer jsonb;
begin
  perform private.recover_lost_login_steps(s.account_id) from private.login_steps s
  where s.id = p_step_id and s.owner_id = auth.uid() and s.answer is null and s.taken_at is not null;
  delete from private.login_steps where id = p_step_id and owner_id = auth.uid() and answer is not null
  returning answer into v_answer;
  return v_answer;
end $$;

revoke execute on function private.recover_lost_login_steps(uuid), private.clear_answered_login_secret()
  from public, anon, authenticated;
revoke execute on function public.worker_take_login_steps(uuid, text[], integer, integer), public.login_step_answer(uuid)
  from public, anon, authenticated;
grant execute on function public.worker_take_login_steps(uuid, text[], integer, integer) to service_role;
grant execute on function public.login_step_answer(uuid) to authenticated;
