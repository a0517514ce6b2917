-- `disabled` by the owner (docs/decisions.md, "Account health"): POST /accounts/{id}/disable stops
-- the account sending at once, pausing its campaigns (reason `account`), and nothing the worker or
-- Telegram later reports brings it back by itself; POST /accounts/{id}/enable makes it active again
-- and the owner resumes the campaigns it paused.

create function public.set_account_enabled(p_account_id uuid, p_enabled boolean) returns void
language plpgsql security definer set search_path = '' as $$
declare
  a public.telegram_accounts;
begin
  select * into a from public.telegram_accounts where id = p_account_id and owner_id = auth.uid() for no key update;
  if not found then
    raise exception 'account not found' using errcode = 'PT404';
  end if;
  if p_enabled then
    if a.status <> 'disabled' then
      raise exception 'account % is not disabled (it is %)', a.id, a.status using errcode = 'PT409',
        detail = jsonb_build_object('accountStatus', a.status)::text;
    end if;
    update public.telegram_accounts set status = 'active', status_reason = null where id = a.id;
  elsif a.status <> 'disabled' then
    update public.telegram_accounts set status = 'disabled', status_reason = 'disabled by its owner',
      flood_wait_until = null
    where id = a.id;
    perform private.pause_account_campaigns(a.id, 'account', null);
    -- Those waiting out a FLOOD_WAIT would never resume by themselves now: the owner resumes them.
    update public.campaigns set pause_reason = 'account', resume_at = null
    where account_id = a.id and state = 'paused' and pause_reason = 'flood_wait';
  else
    return;
  end if;
  perform private.audit(a.owner_id, case when p_enabled then 'enable' else 'disable' end, 'telegram_accounts', a.id,
    jsonb_build_object('status', a.status, 'statusReason', a.status_reason),
    jsonb_build_object('status', case when p_enabled then 'active' else 'disabled' end));
end $$;

-- A FLOOD_WAIT answered to a send that was in flight when the owner disabled the account leaves it
-- disabled: the wait's end must not make it active.
create or replace function public.worker_flood_wait(p_account_id uuid, p_seconds integer) returns timestamptz
language plpgsql security definer set search_path = '' as $$
declare
  v_until timestamptz := now() + make_interval(secs => greatest(p_seconds, 1));
  v_status text := (select status from public.telegram_accounts where id = p_account_id for no key update);
begin
  if v_status is null then
    raise exception 'account % not found', p_account_id using errcode = 'PT404';
  elsif v_status = 'disabled' then
    return v_until;
  end if;
  update public.telegram_accounts set status = 'flood_wait',
    status_reason = format('FLOOD_WAIT_%s', p_seconds),
    flood_wait_until = greatest(coalesce(flood_wait_until, v_until), v_until)
  where id = p_account_id
  returning flood_wait_until into v_until;
  perform private.pause_account_campaigns(p_account_id, 'flood_wait', v_until);
  perform private.insert_jobs('campaign-resume',
    jsonb_build_array(jsonb_build_object('data', jsonb_build_object('accountId', p_account_id))),
    v_until);
  return v_until;
end $$;

-- A campaign the account paused is not resumed while its owner keeps the account disabled.
create or replace function private.resume_account(c public.campaigns, p_account public.telegram_accounts) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_account.status in ('revoked', 'logging_in', 'disabled') then
    raise exception 'cannot resume campaign: %',
      case when p_account.status = 'disabled'
        then format('account %s is disabled: enable it first (POST /accounts/%s/enable)', p_account.id, p_account.id)
        else format('account %s has no Telegram session (%s): sign it in through the API (POST /accounts/%s/login, or `npm run login -- --api <functions URL> --account %s`), then resume',
          p_account.id,
          case p_account.status when 'revoked' then 'revoked: ' || coalesce(p_account.status_reason, 'no reason given')
            else 'a sign-in is under way' end,
          p_account.id, p_account.id) end
      using errcode = 'PT409',
        detail = jsonb_build_object('from', c.state, 'to', 'running', 'action', 'resume',
          'accountStatus', p_account.status)::text;
  end if;
  if p_account.status in ('limited', 'frozen') then
    update public.telegram_accounts set status = 'active', status_reason = null where id = p_account.id;
    perform private.audit(c.owner_id, 'reactivate', 'telegram_accounts', p_account.id,
      jsonb_build_object('status', p_account.status, 'statusReason', p_account.status_reason),
      jsonb_build_object('status', 'active'));
  end if;
end $$;

revoke execute on function public.set_account_enabled(uuid, boolean) from public, anon;
grant execute on function public.set_account_enabled(uuid, boolean) to authenticated;
