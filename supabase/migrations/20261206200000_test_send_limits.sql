-- Limits on test sends and quotas that hold in every isolation level and on every path
-- (docs/decisions.md, "Test-send limits and text length"):
--  - pending test sends are capped per user and per Telegram account (HTTP 429 naming the quota);
--  - the owner's quota lock also bumps a per-owner row, so a REPEATABLE READ or SERIALIZABLE
--    transaction that counted on a snapshot older than another's committed change fails with a
--    serialization failure (retry) instead of passing the limit;
--  - the pending_deliveries quota is checked whenever a campaign's pending deliveries grow in a
--    started campaign (retry-failed), not only at start;
--  - text lengths are counted in UTF-16 code units, as Telegram and the API count them;
--  - the functions' role ends sessions left idle in a transaction.

-- Quotas hold in every isolation level ----------------------------------------------------------
-- Under READ COMMITTED the advisory lock alone serializes: each statement after it sees what the
-- previous holder committed. Under REPEATABLE READ the snapshot was taken at the transaction's
-- first statement, before the lock was granted, so counts could miss the previous holder's rows.
-- Every holder therefore also writes the owner's row here: writing a row that another transaction
-- changed and committed after this one's snapshot is a serialization failure in REPEATABLE READ
-- and SERIALIZABLE, while READ COMMITTED simply proceeds.
create table private.quota_owner_turns (
  owner_id uuid primary key references auth.users (id) on delete cascade,
  turn bigint not null default 0
);
revoke all on private.quota_owner_turns from public, anon, authenticated;

create or replace function private.lock_owner_quotas(p_owner uuid) returns void
language plpgsql security definer set search_path = '' as $$
begin
  perform pg_advisory_xact_lock(hashtextextended('quota:' || p_owner::text, 0));
  begin
    insert into private.quota_owner_turns as t (owner_id) values (p_owner)
    on conflict (owner_id) do update set turn = t.turn + 1;
  exception when serialization_failure then
    raise exception 'another transaction of this user changed what the quotas count since this one began: retry it'
      using errcode = 'serialization_failure', hint = 'retry the transaction (REPEATABLE READ or SERIALIZABLE)';
  end;
end $$;
revoke execute on function private.lock_owner_quotas(uuid) from public, anon, authenticated;

-- pending_deliveries on every path -----------------------------------------------------------
-- start_campaign checks it; retry-failed turns failed deliveries back into pending ones in a
-- campaign already counted, so the check runs whenever a counted campaign's pending count grows
-- or a campaign becomes counted. (resume leaves the count as it is: a paused campaign's pending
-- deliveries are counted already.)
create function private.enforce_pending_quota() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform private.lock_owner_quotas(new.owner_id);
  perform private.check_quota(new.owner_id, 'pending_deliveries', (
    select coalesce(sum(pending_count), 0) from public.campaigns
    where owner_id = new.owner_id and state in ('scheduled', 'running', 'paused')), 'id');
  return null;
end $$;
revoke execute on function private.enforce_pending_quota() from public, anon, authenticated;
create trigger campaigns_pending_quota after update of state, pending_count on public.campaigns
  for each row
  when (new.state in ('scheduled', 'running', 'paused')
    and (old.state not in ('scheduled', 'running', 'paused') or new.pending_count > old.pending_count))
  execute function private.enforce_pending_quota();

-- Test sends ---------------------------------------------------------------------------------
-- How long a test send may wait for its slot: the caller gave up on it by then.
create function private.test_send_ttl() returns interval
language sql immutable as $$ select interval '60 seconds' $$;
revoke execute on function private.test_send_ttl() from public, anon, authenticated;

insert into private.quota_limits (name, value, description) values
  ('pending_tests', 5, 'test sends pending at once per user'),
  ('pending_tests_per_account', 3, 'test sends pending at once per Telegram account')
on conflict (name) do nothing;

create index campaign_test_sends_pending on public.campaign_test_sends (owner_id, account_id)
  where state = 'pending';

-- A test is pending until the worker records it or its time is up; more at once would only wait
-- for slots of the account's pace (and expire). One count per statement, like the row quotas, so
-- a statement calling test_campaign() many times is refused too. 429: wait for one to settle.
create function private.enforce_test_caps() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  r record;
begin
  for r in select distinct owner_id, account_id from new_rows order by 1, 2 loop
    perform private.lock_owner_quotas(r.owner_id);
    perform private.check_test_cap(r.owner_id, 'pending_tests', (
      select count(*) from public.campaign_test_sends t
      where t.owner_id = r.owner_id and t.state = 'pending' and t.created_at > now() - private.test_send_ttl()));
    perform private.check_test_cap(r.owner_id, 'pending_tests_per_account', (
      select count(*) from public.campaign_test_sends t
      where t.owner_id = r.owner_id and t.account_id = r.account_id and t.state = 'pending'
        and t.created_at > now() - private.test_send_ttl()));
  end loop;
  return null;
end $$;

create function private.check_test_cap(p_owner uuid, p_name text, p_used bigint) returns void
language plpgsql stable security definer set search_path = '' as $$
declare
  v_limit integer := private.quota(p_owner, p_name);
begin
  if v_limit is not null and p_used > v_limit then
    raise exception 'too many test sends at once: at most % % (quota "%"); try again when one has been sent',
      v_limit, (select description from private.quota_limits where name = p_name), p_name
      using errcode = 'PT429',
        detail = jsonb_build_object('field', 'id', 'quota', p_name, 'limit', v_limit)::text;
  end if;
end $$;
revoke execute on function private.enforce_test_caps(), private.check_test_cap(uuid, text, bigint)
  from public, anon, authenticated;
create trigger campaign_test_sends_caps after insert on public.campaign_test_sends
  referencing new table as new_rows for each statement execute function private.enforce_test_caps();

-- Text length: UTF-16 code units ---------------------------------------------------------------
-- Telegram counts message text in UTF-16 code units (its entity offsets and lengths are "the
-- number of UTF-16 code units", https://core.telegram.org/api/entities#entity-length), and so does
-- the API (JavaScript string length): a character outside the Basic Multilingual Plane (most
-- emoji) counts 2.
create function private.utf16_length(p text) returns integer
language sql immutable strict parallel safe set search_path = '' as $$
  select char_length(p) + char_length(regexp_replace(p, '[^\U00010000-\U0010FFFF]', '', 'g'))
$$;
-- every writer of templates and campaigns evaluates the checks below
grant execute on function private.utf16_length(text) to public;

-- NOT VALID: existing rows were checked in code points; new and changed rows in UTF-16 units.
alter table public.templates drop constraint templates_text_check,
  add constraint templates_text_check check (char_length(text) >= 1 and private.utf16_length(text) <= 4096) not valid;
alter table public.campaigns drop constraint campaigns_message_text_check,
  add constraint campaigns_message_text_check
    check (char_length(message_text) >= 1 and private.utf16_length(message_text) <= 4096) not valid,
  drop constraint campaigns_caption_check,
  add constraint campaigns_caption_check
    check (media_path is null or private.utf16_length(message_text) <= 1024) not valid;

create or replace function private.check_caption(p_text text, p_field text) returns void
language plpgsql immutable set search_path = '' as $$
begin
  if private.utf16_length(p_text) > private.caption_max() then
    raise exception 'a caption has at most % characters (UTF-16 code units; this one has %, after filling in the variables)',
      private.caption_max(), private.utf16_length(p_text)
      using errcode = 'PT422', detail = jsonb_build_object('field', p_field)::text;
  end if;
end $$;

-- render_template of 20261202100300_render_escaping.sql, lengths in UTF-16 code units.
create or replace function public.render_template(p_text text, p_variables jsonb default '{}',
  p_parse_mode text default 'plain')
returns table (text text, missing text[])
language plpgsql immutable security definer set search_path = '' as $$
declare
  v_placeholder constant text := '(\{\{\s*([A-Za-z0-9_.-]+)\s*\}\})';
  v_max constant integer := 4096;
  v_parts text[];
  v_found text[];
  v_names text[];
  v_out text;
  v_piece text;
  v_val text;
  v_missing text[] := '{}';
  v_len integer;
begin
  if p_variables is not null and jsonb_typeof(p_variables) <> 'object' then
    raise exception 'variables must be an object of names to values' using errcode = 'PT422',
      detail = '{"field":"variables"}';
  end if;
  -- code points first: a text that long is refused without scanning it
  if char_length(p_text) > v_max or private.utf16_length(p_text) > v_max then
    raise exception 'the text is longer than % characters (UTF-16 code units)', v_max using errcode = 'PT422',
      detail = '{"field":"text"}';
  end if;
  v_parts := regexp_split_to_array(p_text, v_placeholder);
  select coalesce(array_agg(m[1] order by n), '{}'), coalesce(array_agg(m[2] order by n), '{}')
    into v_found, v_names
  from regexp_matches(p_text, v_placeholder, 'g') with ordinality as t (m, n);
  v_out := v_parts[1];
  v_len := private.utf16_length(v_out);
  for i in 1 .. cardinality(v_names) loop
    v_val := coalesce(p_variables, '{}') ->> v_names[i];
    if v_val is null then
      v_missing := v_missing || v_names[i];
      v_piece := v_found[i];
    else
      v_piece := private.escape_variable(v_val, p_parse_mode);
    end if;
    v_out := v_out || v_piece || v_parts[i + 1];
    -- the length so far plus the new pieces' (a long value is refused before it is scanned)
    v_len := v_len + case when char_length(v_piece) > v_max then v_max + 1
      else private.utf16_length(v_piece) + private.utf16_length(v_parts[i + 1]) end;
    if v_len > v_max then
      raise exception 'the message with its variables filled in is longer than % characters (UTF-16 code units)', v_max
        using errcode = 'PT422', detail = '{"field":"variables"}';
    end if;
  end loop;
  return query select v_out, array(select distinct x from unnest(v_missing) x order by 1);
end $$;

-- The functions' role ------------------------------------------------------------------------
-- A function's transaction that stops talking (a bug, a killed instance) must not keep its
-- connection and its locks: the server ends such a session after 15 s. The role is created by the
-- project owner (docs/decisions.md), possibly after this migration: the statement there sets it too.
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'functions_api') then
    alter role functions_api set idle_in_transaction_session_timeout = '15s';
  end if;
end
$$;
