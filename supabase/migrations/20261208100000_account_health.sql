-- Account health: one vocabulary of statuses an operator can act on, the same in the table, the
-- API, the worker's /health, webhooks and Realtime (docs/decisions.md, "Account health"):
--   active      signed in (or not yet signed in) and free to send
--   logging_in  a sign-in through the API is under way and the account has no session yet
--   flood_wait  Telegram's FLOOD_WAIT, until flood_wait_until; campaigns resume by themselves
--   limited     Telegram's PEER_FLOOD, a restriction of undefined length: nothing of the account
--               sends until its owner resumes a campaign it paused (was `peer_flood`)
--   frozen      Telegram froze the account (FROZEN_METHOD_INVALID ...); the owner's resume as above
--   revoked     the session is gone (revoked by Telegram or the user): sign it in again
--   disabled    by the owner

-- The rename. The webhook trigger stays quiet: these accounts were announced when they stopped.
alter table public.telegram_accounts drop constraint telegram_accounts_status_check;
alter table public.telegram_accounts disable trigger telegram_accounts_webhook_events;
update public.telegram_accounts set status = 'limited' where status = 'peer_flood';
alter table public.telegram_accounts enable trigger telegram_accounts_webhook_events;
alter table public.telegram_accounts add constraint telegram_accounts_status_check
  check (status in ('active', 'logging_in', 'flood_wait', 'limited', 'frozen', 'revoked', 'disabled'));

create or replace function private.account_webhook_events() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.status in ('limited', 'frozen', 'revoked') then
    perform private.emit_webhook_event(new.owner_id,
      case when new.status = 'revoked' then 'account.revoked' else 'account.limited' end,
      jsonb_build_object('account', jsonb_build_object('id', new.id, 'label', new.label,
        'status', new.status, 'statusReason', new.status_reason)));
  end if;
  return null;
end $$;

-- `peer_flood` is still accepted from a worker of the previous release during a rolling upgrade.
create or replace function public.worker_account_status(p_account_id uuid, p_status text, p_reason text)
returns void language plpgsql security definer set search_path = '' as $$
declare
  v_status text := case p_status when 'peer_flood' then 'limited' else p_status end;
begin
  if v_status not in ('active', 'limited', 'revoked', 'frozen', 'disabled') then
    raise exception 'unknown account status %', p_status using errcode = '22023';
  end if;
  update public.telegram_accounts set status = v_status, status_reason = left(p_reason, 500),
    flood_wait_until = null
  where id = p_account_id;
  if not found then
    raise exception 'account % not found', p_account_id using errcode = 'PT404';
  end if;
  if v_status = 'revoked' then
    delete from private.account_sessions where account_id = p_account_id;
  end if;
  if v_status <> 'active' then
    perform private.pause_account_campaigns(p_account_id, 'account', null);
  end if;
end $$;

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
    if v_account.status in ('revoked', 'logging_in') then
      raise exception 'cannot resume campaign: account % has no Telegram session (%): sign it in through the API (POST /accounts/%/login, or `npm run login -- --account %`), then resume',
        v_account.id,
        case v_account.status when 'revoked' then 'revoked: ' || coalesce(v_account.status_reason, 'no reason given')
          else 'a sign-in is under way' end,
        v_account.id, v_account.id
        using errcode = 'PT409',
          detail = jsonb_build_object('from', c.state, 'to', 'running', 'action', 'resume',
            'accountStatus', v_account.status)::text;
    end if;
    if v_account.status in ('limited', 'frozen') then
      update public.telegram_accounts set status = 'active', status_reason = null where id = v_account.id;
      perform private.audit(c.owner_id, 'reactivate', 'telegram_accounts', v_account.id,
        jsonb_build_object('status', v_account.status, 'statusReason', v_account.status_reason),
        jsonb_build_object('status', 'active'));
    end if;
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

create or replace function public.test_campaign(p_campaign_id uuid, p_channel_id uuid default null)
returns public.campaign_test_sends
language plpgsql security definer set search_path = '' as $$
declare
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'test', '{draft,scheduled,running,paused}', 'unchanged');
  a public.telegram_accounts;
  v_peer text := 'me';
  t public.campaign_test_sends;
begin
  select * into a from public.telegram_accounts where id = c.account_id;
  if a.status = 'flood_wait' and a.flood_wait_until > now() then
    raise exception 'the account is in a FLOOD_WAIT until %: a test send now would extend it; try again then',
      a.flood_wait_until using errcode = 'PT409', detail = jsonb_build_object('field', 'accountId')::text;
  elsif a.status in ('limited', 'logging_in', 'revoked', 'frozen', 'disabled') then
    raise exception 'the account is %: it cannot send (%)', a.status, coalesce(a.status_reason, 'see GET /accounts')
      using errcode = 'PT409', detail = jsonb_build_object('field', 'accountId')::text;
  end if;
  if p_channel_id is not null then
    select ch.peer into v_peer from public.channels ch where ch.id = p_channel_id and ch.owner_id = c.owner_id;
    if not found then
      raise exception 'channel % not found', p_channel_id using errcode = 'PT422', detail = '{"field":"channelId"}';
    end if;
  end if;
  insert into public.campaign_test_sends (owner_id, campaign_id, account_id, channel_id, peer, random_id)
  values (c.owner_id, c.id, c.account_id, p_channel_id, v_peer,
    coalesce(nullif(('x' || left(md5(gen_random_uuid()::text), 16))::bit(64)::bigint, 0), 1))
  returning * into t;
  perform private.insert_jobs(private.delivery_queue(c.account_id), jsonb_build_array(jsonb_build_object(
    'groupId', 'test', 'data', jsonb_build_object('testSendId', t.id, 'campaignId', c.id, 'accountId', c.account_id))));
  return t;
end $$;

-- logging_in -----------------------------------------------------------------------------------
-- Follows the sign-in's state (`login`), whichever function writes it: an account with no session
-- (new, or revoked) shows logging_in while its sign-in is under way, and what it was before (kept
-- with the sign-in) if the sign-in fails or expires; signed in, it is active. An account that has
-- a session keeps sending with it, and its status, until a new session replaces it.
alter table private.account_logins add column status_before text, add column reason_before text;

create function private.account_login_status() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_before private.account_logins;
begin
  if new.login ->> 'state' in ('pending', 'code_sent', 'password_needed') then
    if old.status in ('active', 'revoked')
       and not exists (select 1 from private.account_sessions where account_id = new.id) then
      update private.account_logins set status_before = old.status, reason_before = old.status_reason
      where account_id = new.id;
      new.status := 'logging_in';
      new.status_reason := format('signing in (%s)', coalesce(new.login ->> 'method', 'phone'));
    end if;
  elsif old.status = 'logging_in' then
    select * into v_before from private.account_logins where account_id = new.id;
    if new.login ->> 'state' = 'signed_in'
       or exists (select 1 from private.account_sessions where account_id = new.id) then
      new.status := 'active';
      new.status_reason := null;
    else
      new.status := coalesce(v_before.status_before, 'active');
      new.status_reason := v_before.reason_before;
    end if;
  end if;
  return new;
end $$;
create trigger telegram_accounts_login_status before update of login on public.telegram_accounts
  for each row when (old.login is distinct from new.login)
  execute function private.account_login_status();

-- Realtime -------------------------------------------------------------------------------------
-- Every status change reaches the owner on the account's private topic `account:<id>` (event
-- `status`, the policy of the login broadcasts admits the owner), like its sign-in; hosted
-- Realtime's Postgres Changes of the table carry it too (the table is in the publication).
create function private.broadcast_account_status() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform realtime.send(jsonb_build_object('accountId', new.id, 'status', new.status,
    'statusReason', new.status_reason, 'floodWaitUntil', new.flood_wait_until), 'status',
    'account:' || new.id::text, true);
  return null;
end $$;
-- Not `update of status`: the sign-in trigger above sets it without naming it.
create trigger telegram_accounts_broadcast_status after update on public.telegram_accounts
  for each row when (old.status is distinct from new.status or old.status_reason is distinct from new.status_reason
    or old.flood_wait_until is distinct from new.flood_wait_until)
  execute function private.broadcast_account_status();

-- The campaigns an account paused ------------------------------------------------------------
-- As the caller (security invoker): RLS shows the owner their own campaigns only.
create function public.account_paused_campaigns(p_account_id uuid) returns jsonb
language sql stable security invoker set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name, 'pauseReason', c.pause_reason,
    'resumeAt', c.resume_at) order by c.created_at, c.id), '[]')
  from public.campaigns c
  where c.account_id = p_account_id and c.state = 'paused' and c.pause_reason in ('flood_wait', 'account')
$$;

revoke execute on function private.account_login_status(), private.broadcast_account_status()
  from public, anon, authenticated;
revoke execute on function public.account_paused_campaigns(uuid) from public, anon;
grant execute on function public.account_paused_campaigns(uuid) to authenticated, service_role;
