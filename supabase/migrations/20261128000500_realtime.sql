-- Live campaign progress for client apps (docs/architecture.md § 6), two ways:
--  1. Postgres Changes: public.campaigns joins the supabase_realtime publication; Realtime
--     filters each change through the table's RLS (owner_read), so owners see only theirs.
--  2. Broadcast (Supabase's recommended path at scale): a trigger sends a compact, coalesced
--     `progress` event on the private topic `campaign:<id>` via realtime.send(); a policy on
--     realtime.messages lets only the campaign's owner join that topic.

-- (1) Idempotent: a project may already have ticked "Realtime" for the table in the dashboard.
do $$
begin
  if not exists (select 1 from pg_publication_tables
                 where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'campaigns') then
    alter publication supabase_realtime add table public.campaigns;
  end if;
end $$;

-- (2) Coalescing state: when the last event of each campaign went out. A campaign at 1,000
-- sends/s updates its row ~1,000 times/s; subscribers need a handful of frames per second.
create table private.campaign_progress_broadcasts (
  campaign_id uuid primary key references public.campaigns (id) on delete cascade,
  sent_at timestamptz not null
);
revoke all on private.campaign_progress_broadcasts from public, anon, authenticated;

-- Minimum gap between two counter-only events of one campaign (≤ 5 events/s).
create function private.progress_min_interval() returns interval
language sql immutable as $$ select interval '200 milliseconds' $$;

-- The event payload; contracts/realtime.ts holds the matching zod schema.
create function private.campaign_progress_event(c public.campaigns) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'campaignId', c.id,
    'state', c.state,
    'pauseReason', c.pause_reason,
    'resumeAt', c.resume_at,
    'total', c.total_count,
    'pending', c.pending_count,
    'sent', c.sent_count,
    'failed', c.failed_count,
    'cancelled', c.cancelled_count,
    'at', clock_timestamp())
$$;

-- Rules: an event always goes out when the state, pause reason or resume time changes, or
-- when the campaign has nothing left pending or is not running (final counts, and the few
-- late updates after a pause, are never dropped); counter-only updates of a running campaign
-- go out only if the last event is at least progress_min_interval() old. The campaign row is
-- locked by the UPDATE that fired us, so concurrent senders serialize on it and the
-- read-modify-write below cannot race.
--
-- Trade-off: a counter change that was coalesced away is shown with the next event; if sends
-- then stop without a state change (e.g. the last target waits for a 5 s retry), subscribers
-- lag until that happens. Postgres Changes (watchCampaign's fallback) carries every update.
create function private.broadcast_campaign_progress() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_last timestamptz;
  v_now timestamptz := clock_timestamp();
  v_significant boolean :=
    new.state is distinct from old.state
    or new.pause_reason is distinct from old.pause_reason
    or new.resume_at is distinct from old.resume_at
    or new.pending_count = 0
    or new.state <> 'running';
begin
  if not v_significant then
    select sent_at into v_last from private.campaign_progress_broadcasts where campaign_id = new.id;
    if v_last is not null and v_now - v_last < private.progress_min_interval() then
      return null;
    end if;
  end if;
  insert into private.campaign_progress_broadcasts as b (campaign_id, sent_at)
  values (new.id, v_now)
  on conflict (campaign_id) do update set sent_at = excluded.sent_at;
  -- realtime.send never raises (it warns), so progress can never fail a send's transaction.
  perform realtime.send(private.campaign_progress_event(new), 'progress', 'campaign:' || new.id::text, true);
  return null;
end $$;

-- Only updates that change something a watcher shows (not e.g. updated_at-only touches).
create trigger campaigns_broadcast_progress
  after update of state, pause_reason, resume_at, total_count, pending_count, sent_count,
    failed_count, cancelled_count on public.campaigns
  for each row
  when (old.state is distinct from new.state
    or old.pause_reason is distinct from new.pause_reason
    or old.resume_at is distinct from new.resume_at
    or old.total_count <> new.total_count or old.pending_count <> new.pending_count
    or old.sent_count <> new.sent_count or old.failed_count <> new.failed_count
    or old.cancelled_count <> new.cancelled_count)
  execute function private.broadcast_campaign_progress();

-- Who may receive: Realtime evaluates SELECT policies on realtime.messages as the joining
-- user with realtime.topic() set to the channel's topic (Supabase's private-channel
-- authorization). The topic is parsed defensively: a malformed one must deny, not error.
-- No INSERT policy: clients cannot broadcast on campaign topics themselves.
create policy campaign_owner_receives_progress on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and exists (
      select 1 from public.campaigns c
      where c.owner_id = (select auth.uid())
        and c.id = (select case
          when realtime.topic() ~ '^campaign:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          then substr(realtime.topic(), 10)::uuid end)
    )
  );

revoke execute on function private.progress_min_interval(), private.campaign_progress_event(public.campaigns),
  private.broadcast_campaign_progress() from public, anon, authenticated;
