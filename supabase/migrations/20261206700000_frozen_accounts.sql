-- A frozen Telegram account (core.telegram.org/api/auth#frozen-accounts): Telegram refuses its
-- calls with FROZEN_METHOD_INVALID until the freeze is lifted, so the worker stops it like a
-- PEER_FLOOD: status 'frozen', its campaigns paused with reason 'account'. The owner's resume of
-- such a campaign sets it active again (the freeze was lifted after an appeal); if Telegram still
-- refuses, the worker stops it once more at its first call: no retry loop.
alter table public.telegram_accounts drop constraint telegram_accounts_status_check;
alter table public.telegram_accounts add constraint telegram_accounts_status_check
  check (status in ('active', 'flood_wait', 'peer_flood', 'revoked', 'frozen', 'disabled'));

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
  if p_status <> 'active' then
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
    if v_account.status = 'revoked' then
      raise exception 'cannot resume campaign: the Telegram session of account % was revoked (%); log in again with `npm run login`, put the new session in the worker''s TELEGRAM_ACCOUNTS and restart the worker',
        v_account.id, coalesce(v_account.status_reason, 'no reason given')
        using errcode = 'PT409',
          detail = jsonb_build_object('from', c.state, 'to', 'running', 'action', 'resume',
            'accountStatus', v_account.status)::text;
    end if;
    if v_account.status in ('peer_flood', 'frozen') then
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

-- A frozen account cannot send a test either.
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
  elsif a.status in ('peer_flood', 'revoked', 'frozen', 'disabled') then
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
