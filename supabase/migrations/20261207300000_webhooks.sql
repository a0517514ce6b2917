-- Webhooks: HTTPS endpoints an owner registers, the events campaigns and accounts produce where
-- their state changes, one delivery (and one pg-boss job, same transaction) per event and
-- endpoint, and a log of every attempt the worker makes.
--
--   public.webhook_endpoints   the owner's endpoints (RLS); the signing secret is not a column
--   private.webhook_secrets    the secrets: readable by the worker's RPC only (service_role)
--   private.webhook_events     one row per event: its id and the exact body every attempt sends
--   public.webhook_deliveries  one per (event, endpoint): pending, sending, delivered or failed
--   public.webhook_attempts    one per attempt: status code, error, duration, times (RLS read)

-- Local development and tests only: lets endpoints be http:// and private or loopback
-- addresses at registration. The worker has its own switch (WEBHOOK_ALLOW_PRIVATE_TARGETS) for
-- sending; both are off unless an operator turns them on.
create table private.webhook_settings (
  singleton boolean primary key default true check (singleton),
  allow_private_targets boolean not null default false
);
insert into private.webhook_settings default values;
revoke all on private.webhook_settings from public, anon, authenticated;

create function private.webhook_event_types() returns text[]
language sql immutable as $$
  select array['campaign.completed', 'campaign.paused', 'campaign.error_threshold_reached',
    'account.limited', 'account.revoked', 'reach.sampled']
$$;

-- The same ranges as contracts/webhooks.ts NON_PUBLIC_RANGES (a test compares them).
create function private.non_public_ranges() returns inet[]
language sql immutable as $$
  select array['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16',
    '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24', '192.88.99.0/24', '192.168.0.0/16',
    '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
    '::/127', '::ffff:0:0/96', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001::/23',
    '2001:db8::/32', '2002::/16', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8']::inet[]
$$;

create function private.is_public_address(p_address inet) returns boolean
language sql immutable as $$
  select not exists (select 1 from unnest(private.non_public_ranges()) r where p_address <<= r)
$$;

-- The URL rules that hold for every writer: https, no user info or fragment, at most 2,000
-- characters, and a host that is not an address or name of a private network. Names are
-- resolved by the function at registration and by the worker before every attempt (this SQL
-- cannot resolve DNS). Raises PT422 naming `url`.
create function private.check_webhook_url(p_url text) returns void
language plpgsql stable security definer set search_path = '' as $$
declare
  v_allow boolean := (select allow_private_targets from private.webhook_settings);
  m text[] := regexp_match(p_url, '^(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^\s#]*)?(\?[^\s#]*)?$');
  v_host text := lower(m[2]);
  v_last text := substring(v_host from '([^.]*)\.?$');
  v_problem text;
begin
  if p_url is null or char_length(p_url) > 2000 or m is null then
    v_problem := 'must be an absolute https URL without user info or fragment, at most 2000 characters';
  elsif m[1] <> 'https' and not v_allow then
    v_problem := 'must use https';
  elsif v_host ~ '^\[' or v_last ~ '^([0-9]+|0x[0-9a-f]*)$' then
    -- An address, in any of the forms resolvers accept (3232235521, 0x7f.1): only a
    -- dotted quad or a bracketed IPv6 is taken, and only a public one.
    begin
      if v_host !~ '^(\[.*\]|[0-9]{1,3}(\.[0-9]{1,3}){3})$' then
        v_problem := 'an IPv4 address must be written as four decimal numbers';
      elsif not v_allow and not private.is_public_address(trim(both '[]' from v_host)::inet) then
        v_problem := 'must not point to a private, loopback, link-local or reserved address';
      end if;
    exception when invalid_text_representation then
      v_problem := 'has an invalid IP address';
    end;
  elsif not v_allow and (v_host = 'localhost' or v_host ~ '\.(localhost|local|internal|localdomain|home\.arpa)\.?$'
      or v_host !~ '\.') then
    v_problem := 'must be a public host name';
  end if;
  if v_problem is not null then
    raise exception 'url %', v_problem using errcode = 'PT422', detail = '{"field":"url"}';
  end if;
end $$;

create table public.webhook_endpoints (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  url text not null,
  events text[] not null check (cardinality(events) between 1 and 6 and events <@ private.webhook_event_types()
    and array_position(events, null) is null),
  description text check (char_length(description) <= 200),
  enabled boolean not null default true,
  -- what the owner sees of the secret after creation
  secret_prefix text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index webhook_endpoints_owner on public.webhook_endpoints (owner_id, created_at);

create table private.webhook_secrets (
  endpoint_id uuid primary key references public.webhook_endpoints (id) on delete cascade,
  secret text not null
);
revoke all on private.webhook_secrets from public, anon, authenticated;

create table private.webhook_events (
  id uuid primary key,
  owner_id uuid not null references auth.users (id) on delete cascade,
  type text not null,
  -- the body every attempt sends, byte for byte
  body text not null,
  created_at timestamptz not null
);
revoke all on private.webhook_events from public, anon, authenticated;

create table public.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  endpoint_id uuid not null references public.webhook_endpoints (id) on delete cascade,
  event_id uuid not null references private.webhook_events (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  event_type text not null,
  state text not null default 'pending' check (state in ('pending', 'sending', 'delivered', 'failed')),
  attempts integer not null default 0,
  -- while 'sending': no other attempt starts before this (a worker that died mid-attempt)
  lease_until timestamptz,
  delivered_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  unique (endpoint_id, event_id)
);
create index webhook_deliveries_event on public.webhook_deliveries (event_id);

create table public.webhook_attempts (
  id uuid primary key default gen_random_uuid(),
  delivery_id uuid not null references public.webhook_deliveries (id) on delete cascade,
  endpoint_id uuid not null references public.webhook_endpoints (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  event_id uuid not null,
  event_type text not null,
  attempt integer not null,
  status_code integer,
  error text check (char_length(error) <= 500),
  -- a short prefix of the receiver's answer, never more
  response_prefix text check (char_length(response_prefix) <= 256),
  duration_ms integer,
  started_at timestamptz not null,
  finished_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  unique (delivery_id, attempt)
);
create index webhook_attempts_endpoint on public.webhook_attempts (endpoint_id, created_at desc, id desc);

alter table public.webhook_endpoints enable row level security;
alter table public.webhook_deliveries enable row level security;
alter table public.webhook_attempts enable row level security;
create policy owner_all on public.webhook_endpoints for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy owner_read on public.webhook_deliveries for select to authenticated
  using (owner_id = (select auth.uid()));
create policy owner_read on public.webhook_attempts for select to authenticated
  using (owner_id = (select auth.uid()));
revoke all on public.webhook_endpoints, public.webhook_deliveries, public.webhook_attempts from anon, authenticated;
-- Endpoints are created by create_webhook (it makes the secret); owners edit these columns.
grant select, delete on public.webhook_endpoints to authenticated;
grant update (url, events, description, enabled) on public.webhook_endpoints to authenticated;
grant select on public.webhook_deliveries, public.webhook_attempts to authenticated;
grant select, insert, update, delete on public.webhook_endpoints, public.webhook_deliveries,
  public.webhook_attempts to service_role;

create function private.webhook_endpoint_url_check() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform private.check_webhook_url(new.url);
  return new;
end $$;
create trigger webhook_endpoints_url before insert or update of url on public.webhook_endpoints
  for each row execute function private.webhook_endpoint_url_check();
create trigger webhook_endpoints_touch before update on public.webhook_endpoints
  for each row execute function private.touch_updated_at();

insert into private.quota_limits (name, value, description) values
  ('webhook_endpoints', 10, 'webhook endpoints per user')
on conflict (name) do nothing;
create trigger webhook_endpoints_quota after insert on public.webhook_endpoints referencing new table as new_rows
  for each statement execute function private.enforce_row_quota('webhook_endpoints', 'url');

-- Retries: pg-boss's backoff, retryDelay × 2^n × [1, 2) capped at retryDelayMax: 30 s, 1 min,
-- 2, 4, 8, 16, 32 min, then hourly; 30 retries end 24 to 25 hours after the first attempt.
-- An attempt is bounded by the worker's timeout (10 s), well within the job's expiry.
select pgboss.create_queue('webhooks', jsonb_build_object(
  'policy', 'standard', 'retryLimit', 30, 'retryDelay', 30, 'retryBackoff', true,
  'retryDelayMax', 3600, 'expireInSeconds', 60, 'retentionSeconds', 2 * 24 * 3600,
  'deleteAfterSeconds', 7 * 24 * 3600, 'notify', true));

-- Records an event and, in the same transaction, one delivery and one job per endpoint of the
-- owner subscribed to it (or only p_endpoint, for a test event). Nothing when nobody listens.
create function private.emit_webhook_event(p_owner uuid, p_type text, p_data jsonb, p_endpoint uuid default null)
returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  v_event uuid := gen_random_uuid();
  v_at timestamptz := clock_timestamp();
  v_jobs jsonb;
begin
  insert into private.webhook_events (id, owner_id, type, body, created_at)
  select v_event, p_owner, p_type,
    jsonb_build_object('id', v_event, 'type', p_type, 'createdAt', v_at, 'data', p_data)::text, v_at
  where exists (select 1 from public.webhook_endpoints e where e.owner_id = p_owner
    and (e.id = p_endpoint or (p_endpoint is null and e.enabled and p_type = any (e.events))));
  if not found then
    return null;
  end if;
  with d as (
    insert into public.webhook_deliveries (endpoint_id, event_id, owner_id, event_type)
    select e.id, v_event, p_owner, p_type from public.webhook_endpoints e
    where e.owner_id = p_owner and (e.id = p_endpoint or (p_endpoint is null and e.enabled and p_type = any (e.events)))
    returning id)
  select jsonb_agg(jsonb_build_object('id', d.id, 'data', jsonb_build_object('deliveryId', d.id))) into v_jobs from d;
  perform private.insert_jobs('webhooks', v_jobs);
  return v_event;
end $$;

create function private.campaign_webhook_events() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_data jsonb := jsonb_build_object('campaign', jsonb_build_object(
    'id', new.id, 'name', new.name, 'state', new.state, 'pauseReason', new.pause_reason,
    'accountId', new.account_id, 'total', new.total_count, 'pending', new.pending_count,
    'sent', new.sent_count, 'failed', new.failed_count, 'unconfirmed', new.unconfirmed_count,
    'cancelled', new.cancelled_count, 'maxErrors', new.max_errors, 'resumeAt', new.resume_at,
    'completedAt', new.completed_at));
begin
  if new.state = 'completed' then
    perform private.emit_webhook_event(new.owner_id, 'campaign.completed', v_data);
  elsif new.state = 'paused' then
    perform private.emit_webhook_event(new.owner_id, 'campaign.paused', v_data);
    if new.pause_reason = 'error_threshold' then
      perform private.emit_webhook_event(new.owner_id, 'campaign.error_threshold_reached', v_data);
    end if;
  end if;
  return null;
end $$;
create trigger campaigns_webhook_events after update of state, pause_reason on public.campaigns
  for each row when (new.state is distinct from old.state or new.pause_reason is distinct from old.pause_reason)
  execute function private.campaign_webhook_events();

create function private.account_webhook_events() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.status in ('peer_flood', 'frozen', 'revoked') then
    perform private.emit_webhook_event(new.owner_id,
      case when new.status = 'revoked' then 'account.revoked' else 'account.limited' end,
      jsonb_build_object('account', jsonb_build_object('id', new.id, 'label', new.label,
        'status', new.status, 'statusReason', new.status_reason)));
  end if;
  return null;
end $$;
create trigger telegram_accounts_webhook_events after update of status on public.telegram_accounts
  for each row when (new.status is distinct from old.status)
  execute function private.account_webhook_events();

-- 244 random bits (two v4 UUIDs) as hex; shown once, then only its first 10 characters.
create function public.create_webhook(p_url text, p_events text[], p_description text default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_owner uuid := private.require_user();
  v_secret text := 'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
  e public.webhook_endpoints;
begin
  insert into public.webhook_endpoints (owner_id, url, events, description, secret_prefix)
  values (v_owner, p_url, p_events, p_description, left(v_secret, 10))
  returning * into e;
  insert into private.webhook_secrets (endpoint_id, secret) values (e.id, v_secret);
  return to_jsonb(e) || jsonb_build_object('secret', v_secret);
end $$;

-- A webhook.test event to one endpoint of the caller, subscribed or not, enabled or not.
create function public.test_webhook(p_endpoint_id uuid) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  v_owner uuid := private.require_user();
begin
  if not exists (select 1 from public.webhook_endpoints where id = p_endpoint_id and owner_id = v_owner) then
    raise exception 'webhook not found' using errcode = 'PT404';
  end if;
  return private.emit_webhook_event(v_owner, 'webhook.test',
    jsonb_build_object('endpointId', p_endpoint_id), p_endpoint_id);
end $$;

-- The worker, before an attempt: takes the delivery for p_lease_seconds and opens its attempt
-- row. action: 'send' (with what to send), 'done' (delivered already, or the endpoint is gone
-- or disabled: nothing to send) or 'busy' (another attempt holds the lease: try later).
create function public.worker_webhook_claim(p_delivery_id uuid, p_lease_seconds integer)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  d public.webhook_deliveries;
  e public.webhook_endpoints;
begin
  select * into d from public.webhook_deliveries where id = p_delivery_id for update;
  if not found or d.state in ('delivered', 'failed') then
    return jsonb_build_object('action', 'done');
  end if;
  if d.state = 'sending' and d.lease_until > clock_timestamp() then
    return jsonb_build_object('action', 'busy');
  end if;
  select * into e from public.webhook_endpoints where id = d.endpoint_id;
  if not e.enabled and d.event_type <> 'webhook.test' then
    update public.webhook_deliveries set state = 'failed', lease_until = null where id = d.id;
    return jsonb_build_object('action', 'done');
  end if;
  update public.webhook_deliveries set state = 'sending', attempts = attempts + 1,
    lease_until = clock_timestamp() + p_lease_seconds * interval '1s'
  where id = d.id returning * into d;
  insert into public.webhook_attempts (delivery_id, endpoint_id, owner_id, event_id, event_type, attempt, started_at)
  values (d.id, d.endpoint_id, d.owner_id, d.event_id, d.event_type, d.attempts, clock_timestamp());
  return jsonb_build_object('action', 'send', 'attempt', d.attempts, 'url', e.url,
    'secret', (select secret from private.webhook_secrets where endpoint_id = e.id),
    'eventId', d.event_id, 'body', (select body from private.webhook_events where id = d.event_id));
end $$;

-- The worker, after an attempt: its outcome, and the delivery's state. A 2xx makes it
-- delivered for good; p_final (the job's last retry) makes a failure final.
create function public.worker_webhook_record(p_delivery_id uuid, p_attempt integer, p_status integer,
  p_error text, p_response text, p_duration_ms integer, p_final boolean)
returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_ok boolean := p_status between 200 and 299;
begin
  update public.webhook_attempts set status_code = p_status, error = left(p_error, 500),
    response_prefix = left(p_response, 256), duration_ms = p_duration_ms, finished_at = clock_timestamp()
  where delivery_id = p_delivery_id and attempt = p_attempt;
  update public.webhook_deliveries set
    state = case when state = 'delivered' or v_ok then 'delivered' when p_final then 'failed' else 'pending' end,
    delivered_at = case when v_ok and delivered_at is null then clock_timestamp() else delivered_at end,
    lease_until = null
  where id = p_delivery_id and (attempts = p_attempt or v_ok);
end $$;

revoke execute on function public.worker_webhook_claim(uuid, integer),
  public.worker_webhook_record(uuid, integer, integer, text, text, integer, boolean) from public, anon, authenticated;
grant execute on function public.worker_webhook_claim(uuid, integer),
  public.worker_webhook_record(uuid, integer, integer, text, text, integer, boolean) to service_role;
revoke execute on function public.create_webhook(text, text[], text), public.test_webhook(uuid) from public, anon;
grant execute on function public.create_webhook(text, text[], text), public.test_webhook(uuid) to authenticated, service_role;
revoke execute on all functions in schema private from public, anon, authenticated;
grant execute on function private.require_user() to authenticated, service_role;
-- the endpoints' check constraint calls it as the writer
grant execute on function private.webhook_event_types() to authenticated, service_role;

-- For the functions' registration check: whether a host's resolved addresses may be a target
-- (all public, or private targets allowed by the operator).
create function public.webhook_addresses_allowed(p_addresses inet[]) returns boolean
language sql stable security definer set search_path = '' as $$
  select (select allow_private_targets from private.webhook_settings)
    or (cardinality(p_addresses) > 0 and not exists (
      select 1 from unnest(p_addresses) a where not private.is_public_address(a)))
$$;
revoke execute on function public.webhook_addresses_allowed(inet[]) from public, anon;
grant execute on function public.webhook_addresses_allowed(inet[]) to authenticated, service_role;
