-- Reach jobs carried the campaign's id as their pg-boss group, as a campaign's delivery jobs do:
-- a count of a campaign's jobs by group alone then took its reach rounds for deliveries. They are
-- found by their data (campaignId) and need no group.
create or replace function private.reach_job(p_campaign_id uuid, p_round text, p_from timestamptz, p_to timestamptz)
returns jsonb
language sql immutable as $$
  select jsonb_build_array(jsonb_build_object('data',
    jsonb_build_object('campaignId', p_campaign_id, 'round', p_round, 'from', p_from, 'to', p_to)))
$$;
