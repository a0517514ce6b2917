-- Changing a campaign after it was created: its name, pace (rate_per_minute), error threshold
-- (max_errors) and, while it is a draft, its start time (scheduled_at).
--
-- p_changes is the PATCH body: { name?, ratePerMinute?, maxErrors?, scheduledAt? }. A key that is
-- absent keeps its value; JSON null clears ratePerMinute (no cap), maxErrors (no threshold) and
-- scheduledAt (start at once). Unknown keys and wrong types are refused with PT422 naming the
-- field; ranges are the table's check constraints (23514, mapped to the field by the functions).
--
-- Which state allows what:
--   draft, scheduled, running, paused : name, ratePerMinute, maxErrors
--   draft only                        : scheduledAt (once started, the queued jobs carry the time;
--                                       the unchanged value is accepted in any state)
--   completed, cancelled              : nothing (409 naming the state)
-- The state itself never changes here; a changed pace is read by the worker's next claim
-- (worker_claim returns campaign_rate_per_minute per batch).
--
-- maxErrors is compared, as always, with the failures counted since the owner last resumed an
-- error_threshold pause (failed_count - failed_at_resume), and only when a delivery fails: the
-- change itself never pauses the campaign. Lowered to or below the failures already counted, it
-- takes effect at the next failure, which pauses the campaign (error_threshold); until then it
-- keeps sending. Raised on a campaign paused for error_threshold, the campaign stays paused until
-- the owner resumes it (resume counts failures anew from there, as before).
--
-- A change that changes nothing (every given value equals the current one) writes nothing.
-- Otherwise one audit_log row, action 'update', with before/after of the fields that changed.
create function public.update_campaign(p_campaign_id uuid, p_changes jsonb) returns public.campaigns
language plpgsql security definer set search_path = '' as $$
declare
  k text;
  v jsonb;
  v_state text;
  v_detail text;
  v_name text;
  v_rate integer;
  v_max integer;
  v_at timestamptz;
  c public.campaigns;
  v_after public.campaigns;
  v_cur jsonb;
  v_before jsonb;
  v_new jsonb;
begin
  perform private.require_user();
  -- The body first: a malformed one is refused before any row is looked at or locked.
  if p_changes is null or jsonb_typeof(p_changes) <> 'object' then
    raise exception 'changes must be an object of fields to change' using errcode = 'PT422';
  end if;
  if p_changes = '{}' then
    raise exception 'give at least one field to change' using errcode = 'PT422';
  end if;
  for k, v in select * from jsonb_each(p_changes) loop
    case k
      when 'name' then
        if jsonb_typeof(v) <> 'string' then
          raise exception 'name must be a string' using errcode = 'PT422', detail = '{"field":"name"}';
        end if;
        v_name := v #>> '{}';
      when 'ratePerMinute', 'maxErrors' then
        if jsonb_typeof(v) <> 'null' and (jsonb_typeof(v) <> 'number' or v::text::numeric <> trunc(v::text::numeric)
            or abs(v::text::numeric) > 2147483647) then
          raise exception '% must be an integer or null', k using errcode = 'PT422',
            detail = jsonb_build_object('field', k)::text;
        end if;
        if k = 'ratePerMinute' then v_rate := (v #>> '{}')::integer; else v_max := (v #>> '{}')::integer; end if;
      when 'scheduledAt' then
        if jsonb_typeof(v) not in ('string', 'null') then
          raise exception 'scheduledAt must be an ISO 8601 time or null' using errcode = 'PT422',
            detail = '{"field":"scheduledAt"}';
        end if;
        begin
          v_at := (v #>> '{}')::timestamptz;
        exception when sqlstate '22007' or sqlstate '22008' then
          raise exception 'scheduledAt must be an ISO 8601 time or null' using errcode = 'PT422',
            detail = '{"field":"scheduledAt"}';
        end;
      else
        raise exception 'unknown field %', k using errcode = 'PT422', detail = jsonb_build_object('field', k)::text;
    end case;
  end loop;

  -- Lock, 404 for a campaign that is not the caller's, 409 for a finished one. The state does not
  -- change, so the 409 is reworded: "update goes ... to <state>" would mislead.
  begin
    c := private.campaign_for_action(p_campaign_id, 'update', '{draft,scheduled,running,paused}', 'unchanged');
  exception when sqlstate 'PT409' then
    get stacked diagnostics v_detail = pg_exception_detail;
    v_state := v_detail::jsonb ->> 'from';
    raise exception 'cannot update campaign: it is %, and a % campaign cannot be changed', v_state, v_state
      using errcode = 'PT409',
        detail = jsonb_build_object('from', v_state, 'to', v_state, 'action', 'update')::text;
  end;
  -- The same time sent back (a client saving its whole form) is no change and passes.
  if p_changes ? 'scheduledAt' and c.state <> 'draft' and v_at is distinct from c.scheduled_at then
    raise exception 'cannot change scheduledAt: the campaign is %; only a draft''s start time can change (its jobs already carry the time)',
      c.state using errcode = 'PT409',
        detail = jsonb_build_object('from', c.state, 'to', c.state, 'action', 'update', 'field', 'scheduledAt')::text;
  end if;

  -- The requested fields that differ from the campaign's, before and after (camelCase).
  v_cur := jsonb_build_object('name', c.name, 'ratePerMinute', c.rate_per_minute,
    'maxErrors', c.max_errors, 'scheduledAt', c.scheduled_at);
  select coalesce(jsonb_object_agg(r.key, v_cur -> r.key), '{}'), coalesce(jsonb_object_agg(r.key, r.value), '{}')
    into v_before, v_new
  from jsonb_each(jsonb_build_object('name', v_name, 'ratePerMinute', v_rate, 'maxErrors', v_max,
    'scheduledAt', v_at)) r
  where p_changes ? r.key and r.value is distinct from v_cur -> r.key;
  if v_new = '{}' then
    return c;
  end if;

  update public.campaigns set
    name = case when v_new ? 'name' then v_name else name end,
    rate_per_minute = case when v_new ? 'ratePerMinute' then v_rate else rate_per_minute end,
    max_errors = case when v_new ? 'maxErrors' then v_max else max_errors end,
    scheduled_at = case when v_new ? 'scheduledAt' then v_at else scheduled_at end
  where id = c.id
  returning * into v_after;
  perform private.audit(c.owner_id, 'update', 'campaigns', c.id, v_before, v_new);
  return v_after;
end $$;

revoke execute on function public.update_campaign(uuid, jsonb) from public, anon;
grant execute on function public.update_campaign(uuid, jsonb) to authenticated, service_role;
