-- The owner's disable no longer launders what Telegram said (docs/decisions.md, "Account health:
-- disable and enable"). Disable keeps what the account was (its status, why, a FLOOD_WAIT's end) and
-- the campaigns it paused; what the worker reports while the account is disabled updates what is
-- kept, not the status the owner sees. Enable restores what the account really is and resumes
-- exactly the campaigns the disable paused when the account can send again.
-- Starting or resuming a campaign is refused while its account is disabled, revoked or signing in,
-- whatever paused it, for every caller.

create table private.account_disables (
  account_id uuid primary key references public.telegram_accounts (id) on delete cascade,
  status text not null,
  status_reason text,
  flood_wait_until timestamptz,
  campaign_ids uuid[] not null default '{}'
);
alter table private.account_disables enable row level security;
revoke all on private.account_disables from public, anon, authenticated;

-- What an account comes back to when enabled: what disable kept, brought up to date with its
-- session and its sign-in. A session means a revoke or a sign-in is over; a sign-in under way on an
-- account with no session is logging_in (what the sign-in returns to if it fails is kept with it).
create function private.status_on_enable(a public.telegram_accounts, d private.account_disables,
  out status text, out status_reason text, out flood_wait_until timestamptz)
language plpgsql security definer set search_path = '' as $$
declare
  v_session boolean := exists (select 1 from private.account_sessions s where s.account_id = a.id);
  v_login private.account_logins := (select l from private.account_logins l where l.account_id = a.id);
begin
  status := coalesce(d.status, 'active'); status_reason := d.status_reason; flood_wait_until := d.flood_wait_until;
  if status = 'logging_in' then -- the sign-in under way at the disable: what it started from
    status := coalesce(v_login.status_before, 'active'); status_reason := v_login.reason_before;
  end if;
  if status = 'flood_wait' and flood_wait_until <= now() or v_session and status in ('active', 'revoked') then
    status := 'active'; status_reason := null;
  elsif not v_session and status in ('active', 'revoked')
    and a.login ->> 'state' in ('pending', 'code_sent', 'password_needed') then
    update private.account_logins set status_before = status, reason_before = status_reason where account_id = a.id;
    status := 'logging_in';
    status_reason := format('signing in (%s)', coalesce(a.login ->> 'method', 'phone'));
  end if;
  flood_wait_until := case when status = 'flood_wait' then flood_wait_until end;
end $$;

-- The campaigns the disable paused, unless the owner cancelled them meanwhile: running (or back to
-- waiting for their time) on an active account; with a FLOOD_WAIT still under way, paused by it like
-- any campaign the wait paused (its campaign-resume job, queued for the wait's end, is still there:
-- disable does not touch it). On an account that cannot send, they stay paused for the owner's resume.
create function private.resume_disabled_campaigns(p_account public.telegram_accounts, p_ids uuid[])
returns void language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns;
begin
  if p_account.status not in ('active', 'flood_wait') then
    return;
  end if;
  for c in
    select * from public.campaigns where id = any (p_ids) and account_id = p_account.id
      and state = 'paused' and pause_reason = 'account'
    order by id for no key update
  loop
    if p_account.status = 'flood_wait' then
      update public.campaigns set pause_reason = 'flood_wait', resume_at = p_account.flood_wait_until where id = c.id;
      continue;
    end if;
    update public.campaigns set state = case when scheduled_at > now() then 'scheduled' else 'running' end,
      pause_reason = null, resume_at = null,
      started_at = case when scheduled_at > now() then null else coalesce(started_at, now()) end
    where id = c.id returning * into c;
    perform private.enqueue_campaign(c);
    perform private.complete_if_done(c.id);
    perform private.audit(c.owner_id, 'auto_resume', 'campaigns', c.id,
      jsonb_build_object('state', 'paused', 'pauseReason', 'account'), jsonb_build_object('state', c.state));
  end loop;
end $$;

create or replace function public.set_account_enabled(p_account_id uuid, p_enabled boolean) returns void
language plpgsql security definer set search_path = '' as $$
declare
  a public.telegram_accounts;
  d private.account_disables;
  v_after public.telegram_accounts;
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
    delete from private.account_disables where account_id = a.id returning * into d;
    update public.telegram_accounts t set (status, status_reason, flood_wait_until) = (
      select e.status, e.status_reason, e.flood_wait_until from private.status_on_enable(a, d) e)
    where t.id = a.id returning * into v_after;
    perform private.resume_disabled_campaigns(v_after, coalesce(d.campaign_ids, '{}'));
  elsif a.status <> 'disabled' then
    insert into private.account_disables (account_id, status, status_reason, flood_wait_until, campaign_ids)
    values (a.id, a.status, a.status_reason, a.flood_wait_until, array(
      select id from public.campaigns where account_id = a.id
        and (state in ('running', 'scheduled') or state = 'paused' and pause_reason = 'flood_wait')));
    update public.telegram_accounts set status = 'disabled', status_reason = 'disabled by its owner',
      flood_wait_until = null
    where id = a.id returning * into v_after;
    perform private.pause_account_campaigns(a.id, 'account', null);
    -- Those waiting out a FLOOD_WAIT would not resume by themselves now: enable resumes them.
    update public.campaigns set pause_reason = 'account', resume_at = null
    where account_id = a.id and state = 'paused' and pause_reason = 'flood_wait';
  else
    return;
  end if;
  perform private.audit(a.owner_id, case when p_enabled then 'enable' else 'disable' end, 'telegram_accounts', a.id,
    jsonb_build_object('status', a.status, 'statusReason', a.status_reason),
    jsonb_build_object('status', v_after.status, 'statusReason', v_after.status_reason));
end $$;

-- While the owner keeps the account disabled, what the worker reports (a revoke, PEER_FLOOD, a
-- freeze answered to a send in flight) is what enable will restore; the status stays disabled.
create or replace function public.worker_account_status(p_account_id uuid, p_status text, p_reason text)
returns void language plpgsql security definer set search_path = '' as $$
declare
  v_status text := case p_status when 'peer_flood' then 'limited' else p_status end;
  v_current text := (select status from public.telegram_accounts where id = p_account_id for no key update);
begin
  if v_status not in ('active', 'limited', 'revoked', 'frozen', 'disabled') then
    raise exception 'unknown account status %', p_status using errcode = '22023';
  end if;
  if v_current is null then
    raise exception 'account % not found', p_account_id using errcode = 'PT404';
  end if;
  if v_current = 'disabled' then
    update private.account_disables set status = v_status, status_reason = left(p_reason, 500), flood_wait_until = null
    where account_id = p_account_id and v_status <> 'disabled';
  else
    update public.telegram_accounts set status = v_status, status_reason = left(p_reason, 500),
      flood_wait_until = null
    where id = p_account_id;
  end if;
  if v_status = 'revoked' then
    delete from private.account_sessions where account_id = p_account_id;
  end if;
  if v_status <> 'active' then
    perform private.pause_account_campaigns(p_account_id, 'account', null);
  end if;
end $$;

-- The account's side of starting or resuming a campaign, whatever paused it: refused while the
-- account is disabled (enable it), revoked or signing in (sign it in). After PEER_FLOOD or a freeze,
-- `p_retry` (a start, or the resume of a campaign the stop paused: the owner's "try again") makes it
-- active again (audited); a campaign paused by hand leaves the stop alone. `p_account` is locked by
-- the caller.
create function private.account_may_send(c public.campaigns, p_account public.telegram_accounts,
  p_action text, p_to text, p_retry boolean) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_account.status in ('revoked', 'logging_in', 'disabled') then
    raise exception 'cannot % campaign: %', p_action,
      case when p_account.status = 'disabled'
        then format('account %s is disabled: enable it first (POST /accounts/%s/enable)', p_account.id, p_account.id)
        else format('account %s has no Telegram session (%s): sign it in through the API (POST /accounts/%s/login, or `npm run login -- --api <functions URL> --account %s`), then %s',
          p_account.id,
          case p_account.status when 'revoked' then 'revoked: ' || coalesce(p_account.status_reason, 'no reason given')
            else 'a sign-in is under way' end,
          p_account.id, p_account.id, p_action) end
      using errcode = 'PT409',
        detail = jsonb_build_object('from', c.state, 'to', p_to, 'action', p_action,
          'accountStatus', p_account.status)::text;
  end if;
  if p_retry and p_account.status in ('limited', 'frozen') then
    update public.telegram_accounts set status = 'active', status_reason = null where id = p_account.id;
    perform private.audit(c.owner_id, 'reactivate', 'telegram_accounts', p_account.id,
      jsonb_build_object('status', p_account.status, 'statusReason', p_account.status_reason),
      jsonb_build_object('status', 'active'));
  end if;
end $$;

-- The campaign's account, locked before the campaign as the worker locks them (account, then its
-- campaigns): no deadlock with a batch that stops the account while the owner starts or resumes.
create function private.lock_campaign_account(p_campaign_id uuid) returns public.telegram_accounts
language sql security definer set search_path = '' as $$
  select a.* from public.telegram_accounts a join public.campaigns x on x.account_id = a.id
  where x.id = p_campaign_id and x.owner_id = auth.uid()
  for no key update of a
$$;

create or replace function public.resume_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_account public.telegram_accounts := private.lock_campaign_account(p_campaign_id);
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'resume', '{paused}', 'running');
  v_after public.campaigns;
begin
  perform private.account_may_send(c, v_account, 'resume', 'running', c.pause_reason = 'account');
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

create or replace function public.start_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_account public.telegram_accounts := private.lock_campaign_account(p_campaign_id);
  v_to text := case
    when (select scheduled_at from public.campaigns where id = p_campaign_id) > now() then 'scheduled'
    else 'running' end;
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'start', '{draft}', v_to);
  v_after public.campaigns;
begin
  perform private.account_may_send(c, v_account, 'start', v_to, true);
  perform private.lock_owner_quotas(c.owner_id);
  perform private.check_quota(c.owner_id, 'pending_deliveries', c.pending_count + (
    select coalesce(sum(pending_count), 0) from public.campaigns
    where owner_id = c.owner_id and state in ('scheduled', 'running', 'paused')), 'id');
  update public.campaigns set state = v_to,
    started_at = case when v_to = 'running' then now() end
  where id = c.id returning * into v_after;
  perform private.enqueue_campaign(v_after);
  perform private.audit_transition('start', c, v_after);
  return v_after;
end $$;

drop function private.resume_account(public.campaigns, public.telegram_accounts);

revoke execute on function private.status_on_enable(public.telegram_accounts, private.account_disables),
  private.resume_disabled_campaigns(public.telegram_accounts, uuid[]),
  private.account_may_send(public.campaigns, public.telegram_accounts, text, text, boolean),
  private.lock_campaign_account(uuid)
  from public, anon, authenticated;
