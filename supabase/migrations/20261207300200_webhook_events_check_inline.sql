-- Client roles may execute no function of schema private. The endpoints' events check called
-- private.webhook_event_types() as the writer, which needed that grant: the check now lists the
-- types itself (the same list as contracts/webhooks.ts WEBHOOK_EVENT_TYPES), and the function goes.
alter table public.webhook_endpoints drop constraint webhook_endpoints_events_check;
alter table public.webhook_endpoints add constraint webhook_endpoints_events_check check (
  cardinality(events) between 1 and 6
  and events <@ array['campaign.completed', 'campaign.paused', 'campaign.error_threshold_reached',
    'account.limited', 'account.revoked', 'reach.sampled']::text[]
  and array_position(events, null) is null);
drop function private.webhook_event_types();
