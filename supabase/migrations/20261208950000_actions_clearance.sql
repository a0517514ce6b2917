-- Pause and cancel hold for actions on sent posts too: once pause_campaign or cancel_campaign has
-- answered, no edit, delete or pin of the campaign's posts starts (docs/decisions.md, "Actions on
-- sent posts"). The worker starts a held action only under the same clearance as a send:
-- worker_clearance now also says, of the campaigns whose actions it holds, which may start them
-- (not paused, no stop under way: a completed campaign's may), which are paused (their held
-- actions go back), and which of the held actions are no longer pending (cancelled or
-- superseded: dropped unrun). A stop waits out the clearances as before (private.stop_sends).

drop function public.worker_clearance(uuid[]);

create function public.worker_clearance(p_campaign_ids uuid[], p_action_ids uuid[] default '{}')
returns jsonb
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_stopping uuid[] := array(
    select distinct x from unnest(p_campaign_ids) x
    join pg_catalog.pg_locks l on l.locktype = 'advisory' and l.classid = private.stop_lock_class()::oid
      and l.objsubid = 2 and l.objid = pg_catalog.hashtext(x::text)::oid);
begin
  return (
    select jsonb_build_object(
      'validMs', private.send_clearance_ms(),
      'running', coalesce(jsonb_agg(x) filter (where c.state = 'running' and not x = any (v_stopping)), '[]'),
      'stopped', coalesce(jsonb_agg(x) filter (where c.state is distinct from 'running'), '[]'),
      'acting', coalesce(jsonb_agg(x) filter (where c.state <> 'paused' and not x = any (v_stopping)), '[]'),
      'paused', coalesce(jsonb_agg(x) filter (where c.state is null or c.state = 'paused'), '[]'),
      'actionsOver', (select coalesce(jsonb_agg(a.id), '[]') from public.delivery_actions a
        where a.id = any (p_action_ids) and a.state <> 'pending'))
    from unnest(p_campaign_ids) x
    left join public.campaigns c on c.id = x);
end $$;
revoke execute on function public.worker_clearance(uuid[], uuid[]) from public, anon, authenticated;
grant execute on function public.worker_clearance(uuid[], uuid[]) to service_role;
