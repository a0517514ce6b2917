-- Pause and cancel hold: once pause_campaign or cancel_campaign has answered, no send of the
-- campaign starts (docs/decisions.md, "Pause and cancel: what the answer means").
--
-- A worker starts a send of a campaign only while it holds a clearance for it: worker_clearance
-- found the campaign running and no stop of it under way, and the clearance lasts
-- send_clearance_ms from before the worker asked. A stop takes the campaign's stop lock (an
-- advisory lock, seen by every session at once, long before the stop commits), waits out every
-- clearance given before it, then changes the state and commits: a clearance asked for after
-- the lock was taken sees the stop, either under way or committed.
-- The worker also learns at once that a campaign stopped running (the NOTIFY below), so its
-- queued deliveries of the campaign go back without waiting for its next clearance.

-- How long a clearance lasts. A stop of a campaign that may be sending answers this much later.
create function private.send_clearance_ms() returns integer
language sql immutable as $$ select 800 $$;

-- First key of the stop locks (the second is hashtext(campaign id)); the account locks use 29799.
create function private.stop_lock_class() returns integer
language sql immutable as $$ select 29811 $$; -- 0x7473, "ts"

-- Takes the campaign's stop lock (until commit) and, if the campaign is running (p_state, or
-- its state now when null), waits until every clearance given before the lock has run out.
-- True if it waited. Only the caller's own campaign: another's answers 404 at once.
create function private.stop_sends(p_campaign_id uuid, p_state text default null) returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  if not exists (select 1 from public.campaigns where id = p_campaign_id and owner_id = auth.uid()) then
    return false;
  end if;
  perform pg_catalog.pg_advisory_xact_lock_shared(private.stop_lock_class(), pg_catalog.hashtext(p_campaign_id::text));
  if coalesce(p_state, (select state from public.campaigns where id = p_campaign_id)) <> 'running' then
    return false;
  end if;
  perform pg_catalog.pg_sleep(private.send_clearance_ms() / 1000.0);
  return true;
end $$;

-- The wait comes before the campaign row is locked, so the worker's recording of the campaign's
-- outcomes is not held up by it; a campaign resumed meanwhile (found running once locked) waits
-- then.
create or replace function public.pause_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_waited boolean := private.stop_sends(p_campaign_id);
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'pause', '{running,scheduled}', 'paused');
  v_after public.campaigns;
begin
  if not v_waited then
    perform private.stop_sends(c.id, c.state);
  end if;
  update public.campaigns set state = 'paused', pause_reason = 'manual', resume_at = null
  where id = c.id returning * into v_after;
  perform private.cancel_campaign_jobs(c.id, c.account_id);
  perform private.audit_transition('pause', c, v_after);
  return v_after;
end $$;

create or replace function public.cancel_campaign(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_waited boolean := private.stop_sends(p_campaign_id);
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'cancel',
    '{draft,scheduled,running,paused}', 'cancelled');
  v_after public.campaigns;
begin
  if not v_waited then
    perform private.stop_sends(c.id, c.state);
  end if;
  update public.campaigns set state = 'cancelled', pause_reason = null, resume_at = null,
    completed_at = now()
  where id = c.id;
  update public.deliveries set state = 'cancelled', next_attempt_at = null
  where campaign_id = c.id and state = 'pending';
  perform private.cancel_campaign_jobs(c.id, c.account_id);
  select * into v_after from public.campaigns where id = c.id;
  perform private.audit_transition('cancel', c, v_after);
  return v_after;
end $$;

-- The campaigns (of p_campaign_ids) whose sends a worker may start for the next validMs,
-- counted from before it called: running, with no stop under way; and those that no longer run
-- (their deliveries go back). The stop locks are read by a statement of their own, before the
-- states (a later snapshot): a stop is seen under way there or committed here.
create function public.worker_clearance(p_campaign_ids uuid[]) returns jsonb
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
      'stopped', coalesce(jsonb_agg(x) filter (where c.state is distinct from 'running'), '[]'))
    from unnest(p_campaign_ids) x
    left join public.campaigns c on c.id = x);
end $$;
revoke execute on function public.worker_clearance(uuid[]) from public, anon, authenticated;
grant execute on function public.worker_clearance(uuid[]) to service_role;

-- Payload 'campaign.<id>' on pg-boss's channel, which the worker's lock session LISTENs to (its
-- queue names all start with 'delivery.' or 'campaign-'). Sent with the commit.
create function private.campaigns_notify_stopped() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform pg_notify(private.pgboss_notify_channel(), 'campaign.' || new.id::text);
  return null;
end $$;
create trigger campaigns_notify_stopped after update of state on public.campaigns
  for each row when (old.state = 'running' and new.state <> 'running')
  execute function private.campaigns_notify_stopped();

revoke execute on function private.send_clearance_ms(), private.stop_lock_class(), private.stop_sends(uuid, text),
  private.campaigns_notify_stopped() from public, anon, authenticated;
