-- worker_reach_take looked for each account's due jobs on its own: with many accounts and due jobs
-- nobody takes (a campaign whose account was deleted keeps its rounds until their retention), every
-- call cost accounts × due jobs. One scan of the due jobs now serves every account asked about.
create or replace function public.worker_reach_take(p_lock_pid integer, p_account_ids uuid[])
returns table (job_id uuid, campaign_id uuid, account_id uuid, round text, sent_from timestamptz, sent_to timestamptz)
language plpgsql security definer set search_path = '' as $$
begin
  return query
  with held as (
    select a.id from public.telegram_accounts a
    where a.id = any (p_account_ids) and a.status = 'active'
      and exists (
        select 1 from pg_catalog.pg_locks l
        where l.locktype = 'advisory' and l.pid = p_lock_pid and l.granted
          and l.classid = 29799 and l.objsubid = 2 and l.objid = pg_catalog.hashtext(a.id::text)::oid)
  ), due as (
    select j.id, c.account_id as acc,
      row_number() over (partition by c.account_id order by j.start_after, j.id) as nth
    from pgboss.job j
    join public.campaigns c on c.id = (j.data ->> 'campaignId')::uuid
    join held h on h.id = c.account_id
    where j.name = 'reach' and j.state < 'active' and j.start_after <= pgboss.job_now()
  ), picked as (
    select j.id as jid, d.acc from pgboss.job j join due d on d.id = j.id and d.nth = 1
    where j.name = 'reach' and j.state < 'active'
    for update of j skip locked
  ), activated as (
    update pgboss.job j set state = 'active', started_on = pgboss.job_now(), heartbeat_on = pgboss.job_now(),
      retry_count = case when j.started_on is not null then j.retry_count + 1 else j.retry_count end
    from picked p where j.name = 'reach' and j.id = p.jid
    returning j.id, p.acc, j.data
  )
  select a.id, (a.data ->> 'campaignId')::uuid, a.acc, a.data ->> 'round',
    (a.data ->> 'from')::timestamptz, (a.data ->> 'to')::timestamptz
  from activated a;
end $$;
