-- Tenant isolation: what a user may write directly (column grants), membership rows that cannot
-- probe other users' ids, audit ids that reveal nothing about other tenants, the topic check of the
-- Realtime policy, and user erasure that cancels unfinished campaigns instead of failing.

-- (1) Column grants. Ids, owners, counters and timestamps come from defaults and triggers, never
-- from a client: an id chosen by the client could probe for other users' ids (the primary key
-- answers 23505 when it exists), and a writable created_at would reorder lists and audits.
revoke insert, update on public.batches, public.batch_channels, public.templates from authenticated;
revoke insert on public.channels from authenticated;
grant insert (name), update (name) on public.batches to authenticated;
grant insert (name, text, parse_mode, silent, link_preview), update (name, text, parse_mode, silent, link_preview)
  on public.templates to authenticated;
grant insert (peer, title, tags) on public.channels to authenticated;
-- Members are added or removed, never edited (an update could move rows between batches).
grant insert (batch_id, channel_id) on public.batch_channels to authenticated;

-- (2) A membership row names a batch and a channel. Its primary key would answer 23505 for
-- another user's (batch, channel) pair before the foreign keys answer 23503, telling a prober
-- which of someone else's channels sit in which of their batches. This check runs before the row
-- reaches any index and answers the same for "not yours" and "does not exist".
create function private.batch_channels_owned() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if not exists (select 1 from public.batches b where b.id = new.batch_id and b.owner_id = new.owner_id)
     or not exists (select 1 from public.channels c where c.id = new.channel_id and c.owner_id = new.owner_id) then
    raise exception 'batch or channel not found' using errcode = '23503',
      detail = '{"field":"channelIds"}';
  end if;
  return new;
end $$;
create trigger batch_channels_owned before insert on public.batch_channels
  for each row execute function private.batch_channels_owned();

-- (3) Audit ids: one identity sequence for all tenants let a user count everyone else's changes
-- between two of their own rows. Ids are now UUIDv7-style (the time, sub-millisecond, then random
-- bits): they sort by when the row was written, as before, and reveal nothing but that time.
create function private.audit_id() returns uuid
language plpgsql volatile set search_path = '' as $$
declare
  t numeric := extract(epoch from clock_timestamp()) * 1000;
  ms bigint := floor(t);
  frac integer := floor((t - ms) * 4096);
  b bytea := uuid_send(gen_random_uuid());
begin
  b := overlay(b placing substring(int8send(ms) from 3) from 1 for 6);
  b := set_byte(b, 6, 112 | (frac >> 8));  -- version 7, then the sub-millisecond fraction
  b := set_byte(b, 7, frac & 255);
  return encode(b, 'hex')::uuid;           -- byte 8 keeps gen_random_uuid's variant bits
end $$;
alter table public.audit_log alter column id drop identity;
alter table public.audit_log alter column id type uuid using private.audit_id();
alter table public.audit_log alter column id set default private.audit_id();

-- (4) Realtime: Supabase evaluates this policy with realtime.topic() set to the channel being
-- joined, and realtime.send() leaves that setting in place for the rest of the sender's
-- transaction. Without comparing the row's own topic, a user who had just triggered a broadcast
-- on their campaign could read every other campaign's messages in the same transaction.
drop policy campaign_owner_receives_progress on realtime.messages;
create policy campaign_owner_receives_progress on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and realtime.messages.topic = (select realtime.topic())
    and exists (
      select 1 from public.campaigns c
      where c.owner_id = (select auth.uid())
        and c.id = (select case
          when realtime.topic() ~ '^campaign:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          then substr(realtime.topic(), 10)::uuid end)
    )
  );

-- (5) Erasure. Deleting a user (Supabase Auth's admin API, or the dashboard) cascades to their
-- accounts; an account with campaigns still to send refused to go, so the user could not be
-- erased at all. When the owner is gone (the cascade of that deletion) the campaigns are
-- cancelled first, the way cancel_campaign does it; an owner deleting one account is still
-- refused, with what to do instead.
create function private.cancel_campaigns_of_erased_account(p_account_id uuid) returns void
language plpgsql security definer set search_path = '' as $$
declare
  c record;
begin
  for c in select id, account_id from public.campaigns
    where account_id = p_account_id and state not in ('completed', 'cancelled')
    order by id for update
  loop
    update public.campaigns set state = 'cancelled', pause_reason = null, resume_at = null,
      completed_at = now()
    where id = c.id;
    update public.deliveries set state = 'cancelled', next_attempt_at = null
    where campaign_id = c.id and state = 'pending';
    perform private.cancel_campaign_jobs(c.id, c.account_id);
  end loop;
end $$;

create or replace function private.telegram_accounts_before_delete() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  n integer;
begin
  if not exists (select 1 from auth.users u where u.id = old.owner_id) then
    perform private.cancel_campaigns_of_erased_account(old.id);
  end if;
  select count(*) into n from public.campaigns
  where account_id = old.id and state not in ('completed', 'cancelled');
  if n > 0 then
    raise exception 'account % still has % campaign(s) that are not completed or cancelled: cancel them first', old.id, n
      using errcode = 'PT409';
  end if;
  -- its pg-boss queue (created with the account) holds no live job any more: drop it too
  perform pgboss.delete_queue('delivery.' || old.id::text);
  return old;
end $$;

-- The rows of an erased user are being deleted with them: auditing those deletions would insert
-- rows that point at the user being deleted (and fail its foreign key). Everything else as before.
create or replace function private.audit_row() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  r record := case when tg_op = 'DELETE' then old else new end;
begin
  if tg_op = 'DELETE' and not exists (select 1 from auth.users u where u.id = r.owner_id) then
    return null;
  end if;
  insert into public.audit_log (owner_id, actor, action, entity, entity_id, before, after)
  values (
    r.owner_id, auth.uid(), lower(tg_op), tg_table_name, r.id,
    case when tg_op <> 'INSERT' then to_jsonb(old) end,
    case when tg_op <> 'DELETE' then to_jsonb(new) end
  );
  return null;
end $$;

revoke execute on function private.batch_channels_owned(), private.audit_id(), private.cancel_campaigns_of_erased_account(uuid)
  from public, anon, authenticated;
