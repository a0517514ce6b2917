-- Storage objects of the `campaign-media` bucket, held to rules every writer meets
-- (docs/decisions.md, "Storage object names and quota"):
--  - Object names: no empty, `.` or `..` segment, no segment over 255 bytes, at most 1,024 bytes,
--    none of the characters hosted Storage refuses (controls, bidi and invisible marks,
--    # [ ] { } ^ ` " < > \ | % ~). A name like `<me>/../<them>/x` passed the owner-folder policy
--    (its first folder is the caller's) and then reached another user's file through a URL.
--    Checked on storage.objects and, with a 422 naming the field, on campaigns and templates.
--  - File facts: an object's metadata (size, content type) is written by the Storage server from
--    the stored file. `anon` and `authenticated` cannot set it: their own inserts carry none, and
--    their updates leave it (and the row's id and creation time) as it was.
--  - A per-user quota of objects and bytes in the bucket (private.quota_limits 'storage_objects',
--    'storage_bytes'), checked on every insert and update of storage.objects, one owner at a time.
--  - Existing campaigns holding such a path are cancelled here, their pending deliveries and test
--    sends failed with MEDIA_PATH_INVALID; the worker fails any it still meets the same way,
--    without fetching.

-- Why `p_name` is not an acceptable object name, or null. The same rules as contracts/object-name.ts.
create or replace function private.object_name_problem(p_name text) returns text
language plpgsql immutable set search_path = '' as $$
declare
  v_segment text;
begin
  if p_name is null or p_name = '' then return 'is empty'; end if;
  if octet_length(p_name) > 1024 then return 'is over 1024 bytes'; end if;
  if p_name ~ '[\x01-\x1f\x7f-\x9f#\[\]{}^`"<>\\|%~\u034f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]' then
    return 'holds a character Storage refuses (a control, bidi or invisible mark, or one of #[]{}^`"<>\|%~)';
  end if;
  foreach v_segment in array string_to_array(p_name, '/') loop
    if v_segment = '' then return 'has an empty segment (a leading, trailing or double /)'; end if;
    if v_segment in ('.', '..') then return format('has a "%s" segment', v_segment); end if;
    if octet_length(v_segment) > 255 then return 'has a segment over 255 bytes'; end if;
  end loop;
  return null;
end $$;

-- The user a campaign-media object counts against: its first folder (the policies make it the
-- uploader's id), else its owner.
create or replace function private.media_object_owner(p_name text, p_owner_id text) returns uuid
language sql immutable set search_path = '' as $$
  select case
    when (storage.foldername(p_name))[1] ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      then (storage.foldername(p_name))[1]::uuid
    when p_owner_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then p_owner_id::uuid
  end
$$;

insert into private.quota_limits (name, value, description) values
  ('storage_objects', 1000, 'files in the campaign-media bucket per user'),
  ('storage_bytes', 1073741824, 'bytes of files in the campaign-media bucket per user')
on conflict (name) do nothing;

-- What the user may still store: objects and bytes, not counting the object named p_name (which
-- an upsert replaces). The Storage stand-in reads it before taking a body.
create or replace function private.media_quota_left(p_owner uuid, p_name text, out objects bigint, out bytes bigint)
language sql stable security definer set search_path = '' as $$
  select private.quota(p_owner, 'storage_objects') - count(*),
    private.quota(p_owner, 'storage_bytes') - coalesce(sum((o.metadata ->> 'size')::bigint), 0)
  from storage.objects o
  where o.bucket_id = 'campaign-media' and o.name <> p_name
    and private.media_object_owner(o.name, o.owner_id) = p_owner
$$;

-- Names and the quota, for every writer (the Storage server's own writes included).
create or replace function private.media_objects_guard() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_problem text := private.object_name_problem(new.name);
  v_owner uuid := private.media_object_owner(new.name, new.owner_id);
  v_size bigint := coalesce((new.metadata ->> 'size')::bigint, 0);
  v_left record;
begin
  if v_problem is not null then
    raise exception 'invalid object name: it %', v_problem using errcode = 'PT400',
      detail = jsonb_build_object('field', 'name')::text;
  end if;
  if v_owner is null or (tg_op = 'UPDATE' and new.name = old.name
      and v_size <= coalesce((old.metadata ->> 'size')::bigint, 0)) then
    return new;
  end if;
  perform private.lock_owner_quotas(v_owner);
  select * into v_left from private.media_quota_left(v_owner, new.name);
  if tg_op = 'UPDATE' and new.name <> old.name then
    -- a move: the old row is still counted in v_left, but goes away
    v_left.objects := v_left.objects + 1;
    v_left.bytes := v_left.bytes + coalesce((old.metadata ->> 'size')::bigint, 0);
  end if;
  perform private.check_quota(v_owner, 'storage_objects', private.quota(v_owner, 'storage_objects') - v_left.objects + 1, 'file');
  perform private.check_quota(v_owner, 'storage_bytes', private.quota(v_owner, 'storage_bytes') - v_left.bytes + v_size, 'file');
  return new;
end $$;
revoke execute on function private.object_name_problem(text), private.media_object_owner(text, text),
  private.media_quota_left(uuid, text), private.media_objects_guard() from public, anon, authenticated;
create trigger media_objects_guard before insert or update on storage.objects
  for each row when (new.bucket_id = 'campaign-media') execute function private.media_objects_guard();

-- The API roles' own writes (security invoker: current_user is the caller's role). Metadata comes
-- only from the Storage server, which writes it from the stored file: hosted Storage tests the
-- caller's right with the caller's role (inserting or upserting the row with a new version and
-- owner, then rolling back), and writes the row with the file's facts as itself (supabase/storage,
-- src/storage/uploader.ts, canUpload and completeUpload). So an API role's insert stores no
-- metadata and its update keeps the row's id, creation time and metadata as they were.
create or replace function private.media_objects_caller() returns trigger
language plpgsql set search_path = '' as $$
begin
  if current_user not in ('anon', 'authenticated') then return new; end if;
  if tg_op = 'INSERT' then
    new.metadata := null;
  else
    new.id := old.id;
    new.created_at := old.created_at;
    new.metadata := old.metadata;
  end if;
  return new;
end $$;
revoke execute on function private.media_objects_caller() from public, anon, authenticated;
create trigger media_objects_caller before insert or update on storage.objects
  for each row when (new.bucket_id = 'campaign-media') execute function private.media_objects_caller();

-- check_media (20261202300000) with the name rules and a completed upload required.
create or replace function private.check_media(p_uid uuid, p_media jsonb, p_field text,
  out path text, out kind text, out mime text, out size bigint)
language plpgsql stable security definer set search_path = '' as $$
declare
  o storage.objects;
  v_problem text;
begin
  if jsonb_typeof(p_media) <> 'object' or jsonb_typeof(p_media -> 'path') <> 'string' then
    raise exception '%.path is required', p_field using errcode = 'PT422',
      detail = jsonb_build_object('field', p_field || '.path')::text;
  end if;
  path := p_media ->> 'path';
  kind := p_media ->> 'kind';
  v_problem := private.object_name_problem(path);
  if v_problem is not null then
    raise exception '%.path is not a valid object name: it %', p_field, v_problem using errcode = 'PT422',
      detail = jsonb_build_object('field', p_field || '.path')::text;
  end if;
  if kind is null or kind not in ('photo', 'video', 'document') then
    raise exception '%.kind must be photo, video or document', p_field using errcode = 'PT422',
      detail = jsonb_build_object('field', p_field || '.kind')::text;
  end if;
  -- Another user's object answers like a missing one: its existence is not the caller's business.
  -- Without a size its upload never completed (no stored file stands behind the row).
  select * into o from storage.objects s
  where s.bucket_id = 'campaign-media' and s.name = path and (storage.foldername(s.name))[1] = p_uid::text
    and s.metadata ? 'size';
  if not found then
    raise exception 'no file campaign-media/% of yours: upload it first, under %/', path, p_uid
      using errcode = 'PT422', detail = jsonb_build_object('field', p_field || '.path')::text;
  end if;
  mime := coalesce(o.metadata ->> 'mimetype', 'application/octet-stream');
  size := (o.metadata ->> 'size')::bigint;
  perform private.check_media_kind(kind, mime, size, p_field);
end $$;

-- Campaigns written by any path (not only create_campaign) hold a valid name.
create or replace function private.campaigns_media_path() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_problem text := private.object_name_problem(new.media_path);
begin
  if new.media_path is not null and v_problem is not null
     and (tg_op = 'INSERT' or new.media_path is distinct from old.media_path) then
    raise exception 'message.media.path is not a valid object name: it %', v_problem using errcode = 'PT422',
      detail = jsonb_build_object('field', 'message.media.path')::text;
  end if;
  return new;
end $$;
revoke execute on function private.campaigns_media_path() from public, anon, authenticated;
create trigger campaigns_media_path before insert or update of media_path on public.campaigns
  for each row execute function private.campaigns_media_path();

-- Existing rows: unfinished campaigns with such a path are cancelled, what they had pending failed.
do $$
declare
  c public.campaigns;
  v_after public.campaigns;
  v_message constant text := 'the campaign''s media path is not a valid object name; it was never fetched';
begin
  for c in select * from public.campaigns
    where media_path is not null and private.object_name_problem(media_path) is not null
      and state not in ('completed', 'cancelled')
    order by id for update
  loop
    perform private.cancel_campaign_jobs(c.id, c.account_id);
    update public.deliveries set state = 'failed', next_attempt_at = null,
      error_code = 'MEDIA_PATH_INVALID', error_message = v_message
    where campaign_id = c.id and state = 'pending';
    update public.campaigns set state = 'cancelled', pause_reason = null, resume_at = null, completed_at = now()
    where id = c.id returning * into v_after;
    perform private.audit_transition('cancel', c, v_after);
  end loop;
  update public.campaign_test_sends t set state = 'failed', error_code = 'MEDIA_PATH_INVALID', error_message = v_message
  from public.campaigns bad
  where bad.id = t.campaign_id and t.state = 'pending'
    and bad.media_path is not null and private.object_name_problem(bad.media_path) is not null;
end $$;
