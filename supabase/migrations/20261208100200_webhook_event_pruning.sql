-- Webhook history is kept 30 days (docs/decisions.md, "Account health"): an event older than that,
-- with its deliveries and their attempts (they cascade), is deleted once none of its deliveries is
-- still pending or sending. Retries end 24 to 25 hours after the first attempt, so 30 days leaves
-- every delivery finished and a month of history to read (GET /webhooks/{id}/deliveries).
--
-- The workers call worker_prune_webhook_events() on their webhook queue's periodic pass; the gate
-- below lets one call an hour do the work, whichever worker makes it, and the others return at
-- once. A batch that was full opens the gate again, so a backlog drains pass after pass without
-- one long transaction.

create function private.webhook_retention() returns interval
language sql immutable as $$ select interval '30 days' $$;

alter table private.webhook_settings add column pruned_at timestamptz;
create index webhook_events_created on private.webhook_events (created_at);

-- Events deleted (0 when another worker pruned within the hour).
create function public.worker_prune_webhook_events(p_limit integer default 5000) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  n integer;
begin
  update private.webhook_settings set pruned_at = now()
  where pruned_at is null or pruned_at <= now() - interval '1 hour';
  if not found then
    return 0;
  end if;
  with old as (
    select e.id from private.webhook_events e
    where e.created_at < now() - private.webhook_retention()
      and not exists (select 1 from public.webhook_deliveries d
                      where d.event_id = e.id and d.state in ('pending', 'sending'))
    order by e.created_at
    limit p_limit
    for update of e skip locked
  )
  delete from private.webhook_events e using old where e.id = old.id;
  get diagnostics n = row_count;
  if n >= p_limit then
    update private.webhook_settings set pruned_at = null;
  end if;
  return n;
end $$;

revoke execute on function private.webhook_retention() from public, anon, authenticated;
revoke execute on function public.worker_prune_webhook_events(integer) from public, anon, authenticated;
grant execute on function public.worker_prune_webhook_events(integer) to service_role;
