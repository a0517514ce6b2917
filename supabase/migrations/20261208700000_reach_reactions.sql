-- Reach gains reactions: each post's reactions summed over their kinds, read with
-- messages.getMessagesReactions in the same round as its views. Samples and rounds taken before
-- have none (null per post, 0 in a round's totals).
alter table public.reach_samples add column reactions integer check (reactions >= 0);
alter table public.delivery_reach add column reactions integer;
alter table public.reach_rounds add column reactions bigint not null default 0;

-- As before, with the samples' reactions kept like their other figures.
create or replace function public.worker_reach_store(p_job_id uuid, p_samples jsonb) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_round text := (select data ->> 'round' from pgboss.job where name = 'reach' and id = p_job_id);
begin
  with x as (
    select * from jsonb_to_recordset(p_samples) as x ("deliveryId" uuid, views integer, forwards integer,
      replies integer, reactions integer, "errorCode" text)
  ), added as (
    insert into public.reach_samples (delivery_id, job_id, campaign_id, owner_id, round, taken_at, views,
      forwards, replies, reactions, error_code)
    select d.id, p_job_id, d.campaign_id, d.owner_id, v_round, clock_timestamp(), x.views, x.forwards,
      x.replies, x.reactions, left(x."errorCode", 100)
    from x join public.deliveries d on d.id = x."deliveryId"
    on conflict do nothing
    returning *
  )
  insert into public.delivery_reach as r (delivery_id, campaign_id, owner_id, taken_at, views, forwards,
    replies, reactions, error_code)
  select a.delivery_id, a.campaign_id, a.owner_id, a.taken_at, a.views, a.forwards, a.replies, a.reactions,
    a.error_code
  from added a
  on conflict (delivery_id) do update set taken_at = excluded.taken_at,
    -- an error keeps the figures read before it
    views = coalesce(excluded.views, r.views), forwards = coalesce(excluded.forwards, r.forwards),
    replies = coalesce(excluded.replies, r.replies), reactions = coalesce(excluded.reactions, r.reactions),
    error_code = excluded.error_code, samples = r.samples + 1;
end $$;

-- As before, with the campaign's reactions in the round's totals, its webhook event and Realtime event.
create or replace function public.worker_reach_finish(p_job_id uuid) returns void
language plpgsql security definer set search_path = '' as $$
declare
  j pgboss.job;
  r public.reach_rounds;
  v_point jsonb;
begin
  update pgboss.job set state = 'completed', completed_on = pgboss.job_now()
  where name = 'reach' and id = p_job_id and state = 'active' returning * into j;
  if not found then
    return;
  end if;
  insert into public.reach_rounds (job_id, campaign_id, owner_id, round, taken_at, posts, views, forwards, replies,
    reactions)
  select p_job_id, c.id, c.owner_id, j.data ->> 'round', clock_timestamp(), count(dr.delivery_id),
    coalesce(sum(dr.views), 0), coalesce(sum(dr.forwards), 0), coalesce(sum(dr.replies), 0),
    coalesce(sum(dr.reactions), 0)
  from public.campaigns c left join public.delivery_reach dr on dr.campaign_id = c.id
  where c.id = (j.data ->> 'campaignId')::uuid
  group by c.id
  returning * into r;
  if r.job_id is null then
    return; -- the campaign is gone
  end if;
  v_point := jsonb_build_object('campaignId', r.campaign_id, 'round', r.round, 'takenAt', r.taken_at,
    'posts', r.posts, 'views', r.views, 'forwards', r.forwards, 'replies', r.replies, 'reactions', r.reactions);
  perform private.emit_webhook_event(r.owner_id, 'reach.sampled', v_point);
  perform realtime.send(v_point, 'reach', 'campaign:' || r.campaign_id::text, true);
end $$;
