-- A campaign that runs again (resumed by its owner, or after a FLOOD_WAIT) gets a job for every
-- pending action of its posts that has none: a job kept waiting through a long pause may have
-- been removed by pg-boss's retention meanwhile (enqueue_actions skips actions whose job is live).
create function private.campaigns_requeue_actions() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform private.enqueue_actions(array(
    select id from public.delivery_actions where campaign_id = new.id and state = 'pending'));
  return null;
end $$;

create trigger campaigns_requeue_actions after update of state on public.campaigns
  for each row when (old.state = 'paused' and new.state = 'running')
  execute function private.campaigns_requeue_actions();

revoke execute on function private.campaigns_requeue_actions() from public;
