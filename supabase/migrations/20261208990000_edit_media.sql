-- PATCH /campaigns/{id}/message takes `media`: a campaign sent with media can have its posts'
-- file replaced, as Telegram allows (messages.editMessage's `media`, core.telegram.org/method/
-- messages.editMessage). Telegram never adds media to a text message nor takes a post's media
-- away by an edit (MEDIA_PREV_INVALID), so a text campaign cannot take media and `media: null` is
-- refused, each a 422 naming `media`. The file is checked as at creation (the owner's own
-- completed object, kind, type and size; the text is its caption).
--
-- A new file makes the campaign's Telegram uploads stale: they are dropped with the change, and a
-- worker's upload of the previous file recorded afterwards is not kept (worker_media_refs takes
-- the path it uploaded and keeps a reference only for the campaign's current file). Edit jobs
-- carry the campaign's file and its stored upload, as sends do, once an edit has replaced it
-- (campaigns.media_edited): an edit of the text alone of a campaign whose file never changed
-- fetches and uploads nothing, as before.

alter table public.campaigns add column media_edited boolean not null default false;

/** The campaign's media after an edit asking `p_media` (absent: unchanged), or a 422 naming `media`. */
create function private.edited_media(c public.campaigns, p_message jsonb,
  out path text, out kind text, out mime text, out size bigint)
language plpgsql stable security definer set search_path = '' as $$
begin
  select c.media_path, c.media_kind, c.media_mime, c.media_size into path, kind, mime, size;
  if not p_message ? 'media' then
    return;
  end if;
  if jsonb_typeof(p_message -> 'media') = 'null' then
    raise exception 'media cannot be removed by an edit: Telegram replaces a post''s media but never takes it away (messages.editMessage); give a new file, or leave media out'
      using errcode = 'PT422', detail = '{"field":"media"}';
  end if;
  if c.media_path is null then
    raise exception 'media cannot be added by an edit: the campaign''s posts are text messages, and Telegram does not turn a text message into a media post (messages.editMessage answers MEDIA_PREV_INVALID)'
      using errcode = 'PT422', detail = '{"field":"media"}';
  end if;
  select * into path, kind, mime, size from private.check_media(c.owner_id, p_message -> 'media', 'media');
end $$;
revoke execute on function private.edited_media(public.campaigns, jsonb) from public, anon, authenticated;

/** A new message version (text, parseMode, linkPreview, media); see 20261208200000_post_actions.sql. */
create or replace function public.edit_campaign_message(p_campaign_id uuid, p_message jsonb) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  k text;
  v jsonb;
  v_text text;
  v_parse text;
  v_preview boolean;
  v_missing text[];
  m record;
  c public.campaigns;
begin
  perform private.require_user();
  if p_message is null or jsonb_typeof(p_message) <> 'object' then
    raise exception 'the body must be an object with the message''s text' using errcode = 'PT422',
      detail = '{"field":"text"}';
  end if;
  for k, v in select * from jsonb_each(p_message) loop
    if k not in ('text', 'parseMode', 'linkPreview', 'media') then
      raise exception 'unknown field % (a post''s text, parse mode, link preview and media can change)', k
        using errcode = 'PT422', detail = jsonb_build_object('field', k)::text;
    end if;
    if (k = 'text' and jsonb_typeof(v) <> 'string') or (k = 'linkPreview' and jsonb_typeof(v) <> 'boolean')
        or (k = 'parseMode' and (jsonb_typeof(v) <> 'string' or v #>> '{}' not in ('html', 'markdown', 'plain'))) then
      raise exception '% has the wrong type or value', k using errcode = 'PT422',
        detail = jsonb_build_object('field', k)::text;
    end if;
  end loop;
  if not p_message ? 'text' then
    raise exception 'text is required' using errcode = 'PT422', detail = '{"field":"text"}';
  end if;

  c := private.campaign_for_action(p_campaign_id, 'edit the message of', '{running,paused,completed}', 'unchanged');
  m := private.edited_media(c, p_message);
  v_parse := coalesce(p_message ->> 'parseMode', c.parse_mode);
  v_preview := coalesce((p_message ->> 'linkPreview')::boolean, c.link_preview);
  select r.text, r.missing into v_text, v_missing from public.render_template(p_message ->> 'text', '{}', v_parse) r;
  if cardinality(v_missing) > 0 then
    raise exception 'text has placeholders without values (%): an edit takes the final text', array_to_string(v_missing, ', ')
      using errcode = 'PT422', detail = '{"field":"text"}';
  end if;
  if private.utf16_length(v_text) not between 1 and 4096 then
    raise exception 'text must have 1 to 4096 characters (UTF-16 code units)' using errcode = 'PT422',
      detail = '{"field":"text"}';
  end if;
  if m.path is not null then
    perform private.check_caption(v_text, 'text');
  end if;
  -- The same path and kind is the same file (already uploaded): a replaced file goes under a new path.
  if (v_text, v_parse, v_preview, m.path, m.kind) is not distinct from
     (c.message_text, c.parse_mode, c.link_preview, c.media_path, c.media_kind) then
    return c;
  end if;

  update public.campaigns set message_text = v_text, parse_mode = v_parse, link_preview = v_preview,
    media_path = m.path, media_kind = m.kind, media_mime = m.mime, media_size = m.size,
    media_edited = media_edited or (m.path, m.kind) is distinct from (c.media_path, c.media_kind),
    message_version = message_version + 1, message_changed_at = clock_timestamp()
  where id = c.id;
  if (m.path, m.kind) is distinct from (c.media_path, c.media_kind) then
    delete from private.campaign_media_refs where campaign_id = c.id;
  end if;
  perform private.cancel_actions(c.id, '{edit}', 'SUPERSEDED');
  perform private.enqueue_actions(private.add_actions(c.id, 'edit', now(), null));
  perform private.audit(c.owner_id, 'edit_message', 'campaigns', c.id,
    jsonb_build_object('version', c.message_version, 'text', c.message_text, 'parseMode', c.parse_mode,
      'linkPreview', c.link_preview, 'media', private.media_json(c.media_path, c.media_kind)),
    jsonb_build_object('version', c.message_version + 1, 'text', v_text, 'parseMode', v_parse,
      'linkPreview', v_preview, 'media', private.media_json(m.path, m.kind)));
  select * into c from public.campaigns where id = c.id;
  return c;
end $$;

create function private.media_json(p_path text, p_kind text) returns jsonb
language sql immutable set search_path = '' as $$
  select case when p_path is not null then jsonb_build_object('path', p_path, 'kind', p_kind) end
$$;
revoke execute on function private.media_json(text, text) from public, anon, authenticated;

/**
 * Uploads of campaign files: [{ campaignId, accountId, mediaPath, ref }]. A reference is kept only
 * for the campaign's current file: an upload of a file an edit has replaced since is dropped.
 */
create or replace function public.worker_media_refs(p_refs jsonb) returns void
language sql security definer set search_path = '' as $$
  insert into private.campaign_media_refs (campaign_id, account_id, ref)
  select r."campaignId", r."accountId", r.ref
  from jsonb_to_recordset(p_refs) as r ("campaignId" uuid, "accountId" uuid, "mediaPath" text, ref jsonb)
  where exists (select 1 from public.campaigns c where c.id = r."campaignId" and c.media_path = r."mediaPath")
  on conflict (campaign_id, account_id) do update set ref = excluded.ref, uploaded_at = now()
$$;

-- worker_take_actions (20261208200000_post_actions.sql) with the campaign's file and its upload.
drop function public.worker_take_actions(integer, jsonb);
create function public.worker_take_actions(p_lock_pid integer, p_wants jsonb)
returns table (job_id uuid, action_id uuid, delivery_id uuid, campaign_id uuid, account_id uuid,
  action text, reason text, channel_id uuid, peer text, telegram_id bigint, access_hash bigint,
  message_id bigint, attempts integer, version integer, message_text text, parse_mode text,
  link_preview boolean, silent boolean, media_path text, media_kind text, media_mime text, media_ref jsonb)
language plpgsql security definer set search_path = '' as $$
begin
  return query
  with wants as (
    select w."accountId" as acc, w."limit" as lim
    from jsonb_to_recordset(p_wants) as w ("accountId" uuid, "limit" integer)
    join public.telegram_accounts a on a.id = w."accountId" and a.status = 'active'
    where exists (
      select 1 from pg_catalog.pg_locks l
      where l.locktype = 'advisory' and l.pid = p_lock_pid and l.granted
        and l.classid = 29799 and l.objsubid = 2
        and l.objid = pg_catalog.hashtext(w."accountId"::text)::oid)
  ), picked as (
    select w.acc, j.id as jid from wants w
    cross join lateral (
      select j.id from pgboss.job j
      join public.campaigns c on c.id = (j.data ->> 'campaignId')::uuid
      where j.name = private.delivery_queue(w.acc) and j.group_id = 'actions'
        and j.state < 'active' and not j.blocked and j.start_after <= pgboss.job_now()
        and c.state <> 'paused'
      order by j.start_after, j.created_on
      limit greatest(0, w.lim)
      for update of j skip locked) j
  ), activated as (
    update pgboss.job j set state = 'active', started_on = pgboss.job_now(),
      heartbeat_on = pgboss.job_now(),
      retry_count = case when j.started_on is not null then j.retry_count + 1 else j.retry_count end
    from picked p
    where j.name = private.delivery_queue(p.acc) and j.id = p.jid
    returning j.id, (j.data ->> 'actionId')::uuid as aid
  )
  select a.id, x.id, d.id, d.campaign_id, c.account_id,
    case when x.state = 'pending' and x.job_id = a.id and d.state = 'sent' then x.kind else 'skip' end,
    case
      when x.state <> 'pending' then 'action ' || x.state
      when x.job_id is distinct from a.id then 'stale job'
      when d.state <> 'sent' then 'delivery ' || d.state
    end,
    d.channel_id, d.peer, ap.telegram_id, ap.access_hash, d.telegram_message_id, x.attempts, x.version,
    c.message_text, c.parse_mode, c.link_preview, x.silent,
    -- a post keeps its file through an edit of the text: the file goes along once an edit replaced it
    case when c.media_edited then c.media_path end, case when c.media_edited then c.media_kind end,
    case when c.media_edited then c.media_mime end, case when c.media_edited then mr.ref end
  from activated a
  join public.delivery_actions x on x.id = a.aid
  join public.deliveries d on d.id = x.delivery_id
  join public.campaigns c on c.id = x.campaign_id
  left join private.account_peers ap on ap.account_id = c.account_id and ap.channel_id = d.channel_id
  left join private.campaign_media_refs mr on mr.campaign_id = c.id and mr.account_id = c.account_id;
end $$;
revoke execute on function public.worker_take_actions(integer, jsonb) from public, anon, authenticated;
grant execute on function public.worker_take_actions(integer, jsonb) to service_role;
