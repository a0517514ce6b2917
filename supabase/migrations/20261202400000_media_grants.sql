-- Corrects two grants of 20261202300000_media_and_test_sends. `grant insert, update (media_path,
-- media_kind)` granted INSERT on every column of templates (ids, owner, timestamps), undoing the
-- column grants of 20261202100000_tenant_isolation; and private.caption_max(), created after the
-- last blanket revoke, was executable by every role.
revoke insert on public.templates from authenticated;
grant insert (name, text, parse_mode, silent, link_preview, media_path, media_kind) on public.templates to authenticated;
revoke execute on function private.caption_max() from public, anon, authenticated;
