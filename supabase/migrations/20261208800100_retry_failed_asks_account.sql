-- Retrying the failed deliveries of a completed campaign sends again, as a start does: it asks the
-- account the same way (refused while disabled, revoked or signing in; after PEER_FLOOD or a freeze,
-- the owner's try-again). A paused or running campaign keeps its state, so its account is not asked.

create or replace function public.retry_failed_deliveries(p_campaign_id uuid) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  v_account public.telegram_accounts := private.lock_campaign_account(p_campaign_id);
  c public.campaigns := private.campaign_for_action(p_campaign_id, 'retry-failed',
    '{running,paused,completed}', 'running');
  v_after public.campaigns;
begin
  if c.failed_count + c.unconfirmed_count = 0 then
    raise exception 'campaign % has no failed or unconfirmed deliveries to retry', c.id using errcode = 'PT409',
      detail = jsonb_build_object('from', c.state, 'to', c.state, 'action', 'retry-failed')::text;
  end if;
  if c.state = 'completed' then
    perform private.account_may_send(c, v_account, 'retry-failed', 'running', true);
    update public.campaigns set state = 'running', completed_at = null where id = c.id;
  end if;
  update public.campaigns set failed_at_resume = 0 where id = c.id;
  update public.deliveries set state = 'pending', attempts = 0, error_code = null,
    error_message = null, job_id = null
  where campaign_id = c.id and state in ('failed', 'unconfirmed');
  select * into v_after from public.campaigns where id = c.id;
  if v_after.state = 'running' then
    perform private.enqueue_campaign(v_after);
  end if;
  perform private.audit_transition('retry_failed', c, v_after);
  return v_after;
end $$;
