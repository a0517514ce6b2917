-- Erasure, corrected: cancelling a campaign of a user being deleted updates its row, and any
-- second update of that row in the same transaction (the delivery counters move) re-checks its
-- foreign key to the user, who is already gone. The campaigns of an erased user's account go
-- with the user anyway, so they are removed here, after their waiting jobs are cancelled (the
-- account's queue is then dropped by telegram_accounts_before_delete). An owner deleting one
-- account is still refused while it has unfinished campaigns.
create or replace function private.cancel_campaigns_of_erased_account(p_account_id uuid) returns void
language plpgsql security definer set search_path = '' as $$
declare
  c record;
begin
  for c in select id, account_id from public.campaigns
    where account_id = p_account_id and state not in ('completed', 'cancelled')
    order by id for update
  loop
    perform private.cancel_campaign_jobs(c.id, c.account_id);
    delete from public.campaigns where id = c.id;
  end loop;
end $$;
