-- worker_set_channel_peers reads each resolved peer's channel and account by key. Since
-- 20261206800000 it joined the batch (jsonb_to_recordset, which the planner always guesses at
-- 100 rows) to public.channels with a hash join, so every flush that carried a resolution read
-- the whole channels table, and it found the account through its owner's index, reading every
-- account of that owner for each peer: in the fleet benchmark (100 accounts, each resolving its
-- 200 channels) the function cost twice what the single channels update before it did. Each
-- peer now checks its account and channel by primary key (a lateral lookup), and
-- public.channels.telegram_id (informational, the same for every account) is written only when
-- it changes, not again by every account that resolves the channel.
create or replace function public.worker_set_channel_peers(p_peers jsonb) returns void
language sql security definer set search_path = '' as $$
  with p as (
    -- Kept for channels of the account's own owner only.
    select p."accountId" as account_id, p."channelId" as channel_id, p."telegramId" as telegram_id,
      p."accessHash" as access_hash
    from jsonb_to_recordset(p_peers) as p ("accountId" uuid, "channelId" uuid, "telegramId" bigint, "accessHash" bigint)
    cross join lateral (
      -- a lookup by key per peer (limit 1 keeps it one: no join planned on a guessed batch size)
      select from public.telegram_accounts a
      join public.channels c on c.id = p."channelId" and c.owner_id = a.owner_id
      where a.id = p."accountId"
      limit 1
    ) owned
  ), cached as (
    insert into private.account_peers (account_id, channel_id, telegram_id, access_hash)
    select account_id, channel_id, telegram_id, access_hash from p
    on conflict (account_id, channel_id) do update
      set telegram_id = excluded.telegram_id, access_hash = excluded.access_hash, resolved_at = now()
  )
  update public.channels c set telegram_id = p.telegram_id, resolved_at = now()
  from p
  where c.id = any(array(select channel_id from p)) -- by key, never a scan of every channel
    and c.id = p.channel_id and c.telegram_id is distinct from p.telegram_id
$$;
revoke execute on function public.worker_set_channel_peers(jsonb) from public, anon, authenticated;
grant execute on function public.worker_set_channel_peers(jsonb) to service_role;
