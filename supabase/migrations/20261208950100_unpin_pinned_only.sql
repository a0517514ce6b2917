-- An unpin is added only for a post the product pinned: one whose latest pin or unpin carried out
-- is a pin, or with a pin still to do (a scheduled unpin follows the pin it is added with). So
-- POST /campaigns/{id}/unpin (set_post_actions with pin null, which first cancels the pending
-- pins) unpins the posts pinned so far, not every sent post (docs/decisions.md, "Actions on sent
-- posts").

create function private.post_pinned(p_delivery_id uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
      select 1 from public.delivery_actions
      where delivery_id = p_delivery_id and kind = 'pin' and state = 'pending')
    or coalesce((
      select kind = 'pin' from public.delivery_actions
      where delivery_id = p_delivery_id and kind in ('pin', 'unpin') and state = 'done'
      order by done_at desc limit 1), false)
$$;

create or replace function private.add_actions(p_campaign_id uuid, p_kind text, p_due timestamptz,
  p_after interval, p_deliveries uuid[] default null) returns uuid[]
language sql security definer set search_path = '' as $$
  with c as (select * from public.campaigns where id = p_campaign_id), ins as (
    insert into public.delivery_actions (delivery_id, campaign_id, owner_id, kind, version, silent, due_at)
    select d.id, d.campaign_id, d.owner_id, p_kind,
      case when p_kind = 'edit' then c.message_version end, coalesce(c.pin_silent, false),
      greatest(now(), coalesce(d.sent_at + p_after, p_due, now()))
    from public.deliveries d cross join c
    where d.campaign_id = c.id and d.state = 'sent'
      and (p_deliveries is null or d.id = any (p_deliveries))
      and (p_kind <> 'unpin' or private.post_pinned(d.id))
      and not exists (
        select 1 from public.delivery_actions x
        where x.delivery_id = d.id and x.kind = 'delete' and x.state = 'done')
    on conflict do nothing
    returning id
  )
  select coalesce(array_agg(id), '{}') from ins
$$;

revoke execute on function private.post_pinned(uuid) from public, anon, authenticated;
