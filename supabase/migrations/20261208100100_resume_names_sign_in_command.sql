-- resume_campaign's 409 for an account with no session names the sign-in command as it is typed:
-- `npm run login` needs the functions' URL with --account (20261208100000 left it out). The
-- account's side of a resume moves into its own function.

-- Refuses a resume while the account has no session; after PEER_FLOOD or a freeze, the owner's
-- resume makes it active again (audited). `p_account` is locked by the caller.
create function private.resume_account(c public.campaigns, p_account public.telegram_accounts) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_account.status in ('revoked', 'logging_in') then
    raise exception 'cannot resume campaign: account % has no Telegram session (%): sign it in through the API (POST /accounts/%/login, or `npm run login -- --api <functions URL> --account %`), then resume',
      p_account.id,
      case p_account.status when 'revoked' then 'revoked: ' || coalesce(p_account.status_reason, 'no reason given')
        else 'a sign-in is under way' end,
      p_account.id, p_account.id
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
revoke execute on function private.resume_account(public.campaigns, public.telegram_accounts) from public, anon, authenticated;

create or replace function public.resume_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  -- The account row first, as the worker locks it (account, then its campaigns): no deadlock
  -- with a batch that stops the account while the owner resumes.
  v_account public.telegram_accounts := (
    select a from public.telegram_accounts a join public.campaigns x on x.account_id = a.id
    where x.id = p_campaign_id and x.owner_id = auth.uid() and x.pause_reason = 'account'
    for no key update of a);
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'resume', '{paused}', 'running');
  v_after public.campaigns;
begin
  if c.pause_reason = 'account' then
    select * into v_account from public.telegram_accounts where id = c.account_id for no key update;
    perform private.resume_account(c, v_account);
  end if;
  -- Paused before its time: back to waiting for it. Past an error_threshold pause, max_errors
  -- counts anew from here (the owner has seen the failures).
  update public.campaigns set
    state = case when scheduled_at > now() then 'scheduled' else 'running' end,
    pause_reason = null, resume_at = null,
    started_at = case when scheduled_at > now() then null else coalesce(started_at, now()) end,
    failed_at_resume = case when c.pause_reason = 'error_threshold' then failed_count else failed_at_resume end
  where id = c.id returning * into v_after;
  perform private.enqueue_campaign(v_after);
  perform private.complete_if_done(c.id);
  select * into v_after from public.campaigns where id = c.id;
  perform private.audit_transition('resume', c, v_after);
  return v_after;
end $$;
