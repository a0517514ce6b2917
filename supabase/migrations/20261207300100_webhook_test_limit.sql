-- Test events are the one webhook call a user asks for directly: at most 5 of them waiting or in
-- flight per endpoint (quota `webhook_pending_tests`, 429 past it), so a loop of test requests
-- cannot fill the queue.
insert into private.quota_limits (name, value, description) values
  ('webhook_pending_tests', 5, 'test events waiting or in flight per webhook endpoint')
on conflict (name) do nothing;

create or replace function public.test_webhook(p_endpoint_id uuid) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  v_owner uuid := private.require_user();
  v_limit integer := private.quota(v_owner, 'webhook_pending_tests');
begin
  -- the endpoint's row lock serialises the count of concurrent test requests
  perform 1 from public.webhook_endpoints where id = p_endpoint_id and owner_id = v_owner for update;
  if not found then
    raise exception 'webhook not found' using errcode = 'PT404';
  end if;
  if (select count(*) from public.webhook_deliveries where endpoint_id = p_endpoint_id
      and event_type = 'webhook.test' and state in ('pending', 'sending')) >= v_limit then
    raise exception 'quota exceeded: at most % test events waiting per endpoint (quota "webhook_pending_tests")', v_limit
      using errcode = 'PT429', detail = jsonb_build_object('quota', 'webhook_pending_tests', 'limit', v_limit)::text,
        hint = 'wait for the earlier test events to be delivered or to fail';
  end if;
  return private.emit_webhook_event(v_owner, 'webhook.test',
    jsonb_build_object('endpointId', p_endpoint_id), p_endpoint_id);
end $$;
