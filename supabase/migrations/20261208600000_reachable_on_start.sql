-- A worker now reports every account it connects as reachable, so an account that a previous
-- worker left marked unreachable (it died during an outage, or the account moved to a new
-- connection after a proxy change) is cleared once connected again. Clearing an account that
-- is not marked writes nothing: no row version, no Realtime event per account start.
create or replace function public.worker_account_reachable(p_account_id uuid, p_unreachable_reason text)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.telegram_accounts set
    unreachable_since = case when p_unreachable_reason is null then null
      else coalesce(unreachable_since, now()) end,
    unreachable_reason = left(p_unreachable_reason, 500)
  where id = p_account_id and (p_unreachable_reason is not null or unreachable_since is not null)
$$;
