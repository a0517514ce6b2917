-- create_campaign in named steps (message, account, targets, quota, rows), with the draft quotas;
-- start_campaign with the quota on deliveries pending across a user's started campaigns.
-- Same signatures as before, so callers do not change.

-- The message to send: a template's (rendered with the variables) or the one given.
create function private.campaign_message(p_uid uuid, p_template_id uuid, p_message jsonb, p_variables jsonb,
  out message_text text, out parse_mode text, out silent boolean, out link_preview boolean)
language plpgsql stable security definer set search_path = '' as $$
declare
  t public.templates;
  v_missing text[];
begin
  if (p_template_id is null) = (p_message is null) then
    raise exception 'give exactly one of templateId and message' using errcode = 'PT422',
      detail = '{"field":"templateId"}';
  end if;
  if p_template_id is not null then
    select * into t from public.templates where id = p_template_id and owner_id = p_uid;
    if not found then
      raise exception 'template % not found', p_template_id using errcode = 'PT422', detail = '{"field":"templateId"}';
    end if;
    message_text := t.text; parse_mode := t.parse_mode; silent := t.silent; link_preview := t.link_preview;
  else
    if jsonb_typeof(p_message) <> 'object' or jsonb_typeof(p_message -> 'text') <> 'string' then
      raise exception 'message.text is required' using errcode = 'PT422', detail = '{"field":"message.text"}';
    end if;
    message_text := p_message ->> 'text';
    parse_mode := coalesce(p_message ->> 'parseMode', 'plain');
    silent := coalesce((p_message ->> 'silent')::boolean, false);
    link_preview := coalesce((p_message ->> 'linkPreview')::boolean, true);
  end if;
  select r.text, r.missing into message_text, v_missing
  from public.render_template(message_text, p_variables, parse_mode) r;
  if cardinality(v_missing) > 0 then
    raise exception 'missing template variables: %', array_to_string(v_missing, ', ')
      using errcode = 'PT422', detail = '{"field":"variables"}';
  end if;
end $$;

-- The caller's account given, or their first one that is not disabled.
create function private.campaign_account(p_uid uuid, p_account_id uuid) returns uuid
language plpgsql stable security definer set search_path = '' as $$
declare
  v_account uuid;
begin
  if p_account_id is not null then
    select id into v_account from public.telegram_accounts where id = p_account_id and owner_id = p_uid;
    if not found then
      raise exception 'account % not found', p_account_id using errcode = 'PT422', detail = '{"field":"accountId"}';
    end if;
  else
    select id into v_account from public.telegram_accounts
    where owner_id = p_uid and status <> 'disabled' order by created_at, id limit 1;
    if not found then
      raise exception 'no Telegram account: add one first (POST /accounts)' using errcode = 'PT422',
        detail = '{"field":"accountId"}';
    end if;
  end if;
  return v_account;
end $$;

-- Distinct targets: the channels given plus the members of the batches given, all the caller's.
-- Unknown ids are named (the first 20; a long list would make a huge error).
create function private.campaign_targets(p_uid uuid, p_channel_ids uuid[], p_batch_ids uuid[]) returns uuid[]
language plpgsql stable security definer set search_path = '' as $$
declare
  v_unknown uuid[];
  v_targets uuid[];
begin
  v_unknown := array(
    select x from unnest(coalesce(p_channel_ids, '{}')) x
    where not exists (select 1 from public.channels ch where ch.id = x and ch.owner_id = p_uid));
  if cardinality(v_unknown) > 0 then
    raise exception 'unknown channelIds: %', array_to_string(v_unknown[1:20], ', ') using errcode = 'PT422',
      detail = '{"field":"channelIds"}';
  end if;
  v_unknown := array(
    select x from unnest(coalesce(p_batch_ids, '{}')) x
    where not exists (select 1 from public.batches b where b.id = x and b.owner_id = p_uid));
  if cardinality(v_unknown) > 0 then
    raise exception 'unknown batchIds: %', array_to_string(v_unknown[1:20], ', ') using errcode = 'PT422',
      detail = '{"field":"batchIds"}';
  end if;
  v_targets := array(
    select x from unnest(coalesce(p_channel_ids, '{}')) x
    union
    select bc.channel_id from public.batch_channels bc
    where bc.batch_id = any (coalesce(p_batch_ids, '{}')) and bc.owner_id = p_uid);
  if cardinality(v_targets) = 0 then
    raise exception 'campaign has no targets: give channelIds or non-empty batchIds'
      using errcode = 'PT422', detail = '{"field":"channelIds"}';
  end if;
  if cardinality(v_targets) > 100000 then
    raise exception 'campaign has % targets; at most 100000', cardinality(v_targets)
      using errcode = 'PT422', detail = '{"field":"channelIds"}';
  end if;
  return v_targets;
end $$;

-- Drafts hold their delivery rows: both their number and their rows are bounded per user. Takes
-- the owner's quota lock, held until commit, so concurrent creations are counted one by one.
create function private.check_draft_quotas(p_uid uuid, p_targets integer) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_drafts bigint;
  v_rows bigint;
begin
  perform private.lock_owner_quotas(p_uid);
  select count(*), coalesce(sum(total_count), 0) into v_drafts, v_rows
  from public.campaigns where owner_id = p_uid and state = 'draft';
  perform private.check_quota(p_uid, 'draft_campaigns', v_drafts + 1, 'name');
  perform private.check_quota(p_uid, 'draft_deliveries', v_rows + p_targets, 'channelIds');
end $$;

create or replace function public.create_campaign(
  p_name text,
  p_channel_ids uuid[] default null,
  p_batch_ids uuid[] default null,
  p_template_id uuid default null,
  p_message jsonb default null,
  p_variables jsonb default null,
  p_account_id uuid default null,
  p_rate_per_minute integer default null,
  p_max_errors integer default null,
  p_scheduled_at timestamptz default null
) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_uid uuid := private.require_user();
  m record := private.campaign_message(v_uid, p_template_id, p_message, p_variables);
  v_account uuid := private.campaign_account(v_uid, p_account_id);
  v_targets uuid[] := private.campaign_targets(v_uid, p_channel_ids, p_batch_ids);
  c public.campaigns;
begin
  perform private.check_draft_quotas(v_uid, cardinality(v_targets));
  insert into public.campaigns (owner_id, name, account_id, template_id, message_text, parse_mode,
    silent, link_preview, rate_per_minute, max_errors, scheduled_at)
  values (v_uid, p_name, v_account, p_template_id, m.message_text, m.parse_mode, m.silent, m.link_preview,
    p_rate_per_minute, p_max_errors, p_scheduled_at)
  returning * into c;

  insert into public.deliveries (id, campaign_id, owner_id, channel_id, peer, random_id)
  select d.id, c.id, v_uid, d.channel_id, d.peer, private.random_id_for(d.id)
  from (
    select gen_random_uuid() as id, ch.id as channel_id, ch.peer, ch.created_at
    from public.channels ch
    where ch.id = any (v_targets) and ch.owner_id = v_uid
  ) d
  order by d.created_at, d.channel_id;

  select * into c from public.campaigns where id = c.id;
  perform private.audit(v_uid, 'create', 'campaigns', c.id, null, to_jsonb(c));
  return c;
end $$;

-- Deliveries waiting to be sent are what the worker and pg-boss carry: their number across the
-- user's scheduled, running and paused campaigns is bounded when a campaign starts. (retry-failed
-- adds back at most the failures of a campaign that was counted when it started.)
create or replace function public.start_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_to text := case
    when (select scheduled_at from public.campaigns where id = p_campaign_id) > now() then 'scheduled'
    else 'running' end;
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'start', '{draft}', v_to);
  v_after public.campaigns;
begin
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

revoke execute on function
  private.campaign_message(uuid, uuid, jsonb, jsonb), private.campaign_account(uuid, uuid),
  private.campaign_targets(uuid, uuid[], uuid[]), private.check_draft_quotas(uuid, integer)
  from public, anon, authenticated;
