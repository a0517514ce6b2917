-- Media posts and test sends (docs/decisions.md, "Media and test sends").
--  - A private Storage bucket `campaign-media` with Supabase's documented owner-folder policies:
--    a user reads and writes only objects under `<their user id>/`.
--  - Campaigns and templates may carry `media: { path, kind }`; the rules (the object exists and
--    is the caller's, the kind matches its content type, its size, a caption of at most 1,024
--    characters) are checked here, whoever writes.
--  - The worker uploads a campaign's file to Telegram once per account and keeps the reference
--    in private.campaign_media_refs; worker_take hands it out with every media delivery.
--  - test_campaign(): one send of a campaign's message to the account's Saved Messages (or one
--    of the user's channels), through the account's own queue and pace; no delivery is made.

-- Storage --------------------------------------------------------------------------------------
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('campaign-media', 'campaign-media', false, 50 * 1024 * 1024, null)
on conflict (id) do nothing;

create policy "campaign-media: owners read" on storage.objects for select to authenticated
  using (bucket_id = 'campaign-media' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy "campaign-media: owners upload" on storage.objects for insert to authenticated
  with check (bucket_id = 'campaign-media' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy "campaign-media: owners replace" on storage.objects for update to authenticated
  using (bucket_id = 'campaign-media' and (storage.foldername(name))[1] = (select auth.uid()::text))
  with check (bucket_id = 'campaign-media' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy "campaign-media: owners delete" on storage.objects for delete to authenticated
  using (bucket_id = 'campaign-media' and (storage.foldername(name))[1] = (select auth.uid()::text));

-- The rules ------------------------------------------------------------------------------------
-- Telegram's caption limit (a text message may have 4,096).
create or replace function private.caption_max() returns integer
language sql immutable as $$ select 1024 $$;

-- Checks `media` ({ path, kind }) for user p_uid and returns the object's facts. p_field names the
-- request field in errors ('message.media' for a campaign, 'media' for a template).
create or replace function private.check_media(p_uid uuid, p_media jsonb, p_field text,
  out path text, out kind text, out mime text, out size bigint)
language plpgsql stable security definer set search_path = '' as $$
declare
  o storage.objects;
begin
  if jsonb_typeof(p_media) <> 'object' or jsonb_typeof(p_media -> 'path') <> 'string' then
    raise exception '%.path is required', p_field using errcode = 'PT422',
      detail = jsonb_build_object('field', p_field || '.path')::text;
  end if;
  path := p_media ->> 'path';
  kind := p_media ->> 'kind';
  if kind is null or kind not in ('photo', 'video', 'document') then
    raise exception '%.kind must be photo, video or document', p_field using errcode = 'PT422',
      detail = jsonb_build_object('field', p_field || '.kind')::text;
  end if;
  -- Another user's object answers like a missing one: its existence is not the caller's business.
  select * into o from storage.objects s
  where s.bucket_id = 'campaign-media' and s.name = path and (storage.foldername(s.name))[1] = p_uid::text;
  if not found then
    raise exception 'no file campaign-media/% of yours: upload it first, under %/', path, p_uid
      using errcode = 'PT422', detail = jsonb_build_object('field', p_field || '.path')::text;
  end if;
  mime := coalesce(o.metadata ->> 'mimetype', 'application/octet-stream');
  size := coalesce((o.metadata ->> 'size')::bigint, 0);
  perform private.check_media_kind(kind, mime, size, p_field);
end $$;

-- The kind fits the content type, and the size what Telegram takes for it.
create or replace function private.check_media_kind(p_kind text, p_mime text, p_size bigint, p_field text)
returns void language plpgsql immutable set search_path = '' as $$
declare
  -- Telegram takes photos up to 10 MB; the bucket takes files up to 50 MB.
  v_max_mb integer := case when p_kind = 'photo' then 10 else 50 end;
begin
  if (p_kind = 'photo' and p_mime not in ('image/jpeg', 'image/png', 'image/webp'))
     or (p_kind = 'video' and p_mime not like 'video/%') then
    raise exception '%.kind is %, but the file is %: a photo must be JPEG, PNG or WebP, a video of type video/...; send anything else as a document',
      p_field, p_kind, p_mime using errcode = 'PT422', detail = jsonb_build_object('field', p_field || '.kind')::text;
  end if;
  if p_size > v_max_mb * 1024 * 1024 then
    raise exception 'the file is % bytes: a % may have at most % MB', p_size, p_kind, v_max_mb
      using errcode = 'PT422', detail = jsonb_build_object('field', p_field || '.path')::text;
  end if;
end $$;

create or replace function private.check_caption(p_text text, p_field text) returns void
language plpgsql immutable set search_path = '' as $$
begin
  if char_length(p_text) > private.caption_max() then
    raise exception 'a caption has at most % characters (this one has %, after filling in the variables)',
      private.caption_max(), char_length(p_text)
      using errcode = 'PT422', detail = jsonb_build_object('field', p_field)::text;
  end if;
end $$;

revoke execute on function private.check_media(uuid, jsonb, text), private.check_media_kind(text, text, bigint, text),
  private.check_caption(text, text) from public;

-- Templates ------------------------------------------------------------------------------------
alter table public.templates
  add column media_path text,
  add column media_kind text check (media_kind in ('photo', 'video', 'document')),
  add constraint templates_media_check check ((media_path is null) = (media_kind is null));
grant insert, update (media_path, media_kind) on public.templates to authenticated;

create or replace function private.templates_media() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.media_path is not null or new.media_kind is not null then
    perform private.check_media(new.owner_id,
      jsonb_strip_nulls(jsonb_build_object('path', new.media_path, 'kind', new.media_kind)), 'media');
    perform private.check_caption(new.text, 'text');
  end if;
  return new;
end $$;
revoke execute on function private.templates_media() from public;
create trigger templates_media before insert or update of media_path, media_kind, text on public.templates
  for each row execute function private.templates_media();

-- Campaigns ------------------------------------------------------------------------------------
alter table public.campaigns
  add column media_path text,
  add column media_kind text check (media_kind in ('photo', 'video', 'document')),
  add column media_mime text,
  add column media_size bigint,
  add constraint campaigns_media_check check ((media_path is null) = (media_kind is null)),
  add constraint campaigns_caption_check check (media_path is null or char_length(message_text) <= 1024);

-- The campaign's media, from its template or its message (checked again: it may be gone since).
create or replace function private.campaign_media(p_uid uuid, p_template_id uuid, p_message jsonb,
  out path text, out kind text, out mime text, out size bigint)
language plpgsql stable security definer set search_path = '' as $$
declare
  t public.templates;
begin
  if p_template_id is not null then
    select * into t from public.templates where id = p_template_id and owner_id = p_uid;
    if t.media_path is null then return; end if;
    select * into path, kind, mime, size
    from private.check_media(p_uid, jsonb_build_object('path', t.media_path, 'kind', t.media_kind), 'templateId.media');
  elsif jsonb_typeof(p_message) = 'object' and p_message ? 'media' and jsonb_typeof(p_message -> 'media') <> 'null' then
    select * into path, kind, mime, size from private.check_media(p_uid, p_message -> 'media', 'message.media');
  end if;
end $$;
revoke execute on function private.campaign_media(uuid, uuid, jsonb) from public;

create or replace function public.create_campaign(p_name text, p_channel_ids uuid[] default null,
  p_batch_ids uuid[] default null, p_template_id uuid default null, p_message jsonb default null,
  p_variables jsonb default null, p_account_id uuid default null, p_rate_per_minute integer default null,
  p_max_errors integer default null, p_scheduled_at timestamptz default null)
returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_uid uuid := private.require_user();
  m record := private.campaign_message(v_uid, p_template_id, p_message, p_variables);
  v_media record := private.campaign_media(v_uid, p_template_id, p_message);
  v_account uuid := private.campaign_account(v_uid, p_account_id);
  v_targets uuid[] := private.campaign_targets(v_uid, p_channel_ids, p_batch_ids);
  c public.campaigns;
begin
  if v_media.path is not null then
    perform private.check_caption(m.message_text, case when p_template_id is null then 'message.text' else 'templateId' end);
  end if;
  perform private.check_draft_quotas(v_uid, cardinality(v_targets));
  insert into public.campaigns (owner_id, name, account_id, template_id, message_text, parse_mode,
    silent, link_preview, rate_per_minute, max_errors, scheduled_at, media_path, media_kind, media_mime, media_size)
  values (v_uid, p_name, v_account, p_template_id, m.message_text, m.parse_mode, m.silent, m.link_preview,
    p_rate_per_minute, p_max_errors, p_scheduled_at, v_media.path, v_media.kind, v_media.mime, v_media.size)
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

-- Telegram references of uploaded files ---------------------------------------------------------
-- One upload per campaign and account: the worker stores what messages.uploadMedia answered
-- (photo or document id, access hash, file reference) so a restarted worker sends without
-- uploading again; a reference Telegram no longer takes is replaced by a new upload.
create table private.campaign_media_refs (
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  account_id uuid not null references public.telegram_accounts (id) on delete cascade,
  ref jsonb not null,
  uploaded_at timestamptz not null default now(),
  primary key (campaign_id, account_id)
);
create index campaign_media_refs_account on private.campaign_media_refs (account_id);

create or replace function public.worker_media_refs(p_refs jsonb) returns void
language sql security definer set search_path = '' as $$
  insert into private.campaign_media_refs (campaign_id, account_id, ref)
  select r."campaignId", r."accountId", r.ref
  from jsonb_to_recordset(p_refs) as r ("campaignId" uuid, "accountId" uuid, ref jsonb)
  where exists (select 1 from public.campaigns c where c.id = r."campaignId")
  on conflict (campaign_id, account_id) do update set ref = excluded.ref, uploaded_at = now()
$$;
revoke execute on function public.worker_media_refs(jsonb) from public, anon, authenticated;
grant execute on function public.worker_media_refs(jsonb) to service_role;

-- Test sends -----------------------------------------------------------------------------------
create table public.campaign_test_sends (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references auth.users (id) on delete cascade,
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  account_id uuid not null,
  -- null: the account's own Saved Messages
  channel_id uuid,
  peer text not null,
  random_id bigint not null,
  state text not null default 'pending' check (state in ('pending', 'sent', 'failed')),
  telegram_message_id bigint,
  error_code text check (char_length(error_code) <= 100),
  error_message text check (char_length(error_message) <= 1000),
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  check ((state = 'sent') = (telegram_message_id is not null))
);
create index campaign_test_sends_campaign on public.campaign_test_sends (campaign_id, created_at desc);
alter table public.campaign_test_sends enable row level security;
create policy owner_read on public.campaign_test_sends for select to authenticated
  using (owner_id = (select auth.uid()));
grant select on public.campaign_test_sends to authenticated;
grant select, insert, update, delete on public.campaign_test_sends to service_role;

-- Queues one send of the campaign's message to the account's Saved Messages (p_channel_id null)
-- or to one of the caller's channels. In any state but finished, so a draft can be checked; not
-- while the account is in a FLOOD_WAIT or stopped by Telegram (409). The job goes into the
-- account's own queue, so the send takes a slot of the account's pace.
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
  elsif a.status in ('peer_flood', 'revoked', 'disabled') then
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
revoke execute on function public.test_campaign(uuid, uuid) from public, anon;
grant execute on function public.test_campaign(uuid, uuid) to authenticated;

-- Test sends the worker made (or gave up on): the row and the job settle together.
create or replace function public.worker_record_tests(p_results jsonb) returns void
language plpgsql security definer set search_path = '' as $$
begin
  update public.campaign_test_sends t set
    state = case when x.outcome = 'sent' then 'sent' else 'failed' end,
    telegram_message_id = case when x.outcome = 'sent' then x."messageId" end,
    sent_at = case when x.outcome = 'sent' then clock_timestamp() end,
    error_code = left(x."errorCode", 100), error_message = left(x."errorMessage", 1000)
  from jsonb_to_recordset(p_results) as x ("deliveryId" uuid, outcome text, "messageId" bigint,
    "errorCode" text, "errorMessage" text)
  where t.id = x."deliveryId" and t.state = 'pending';
  update pgboss.job j set state = 'completed', completed_on = pgboss.job_now()
  from jsonb_to_recordset(p_results) as x ("jobId" uuid, "accountId" uuid)
  where j.name = private.delivery_queue(x."accountId") and j.id = x."jobId" and j.state = 'active';
end $$;
revoke execute on function public.worker_record_tests(jsonb) from public, anon, authenticated;
grant execute on function public.worker_record_tests(jsonb) to service_role;
