-- Local stand-in for what a hosted Supabase project already has before our migrations run.
-- Applied by scripts/lib/migrate.ts as the cluster superuser (supabase_admin) to local and
-- embedded databases only; never to a hosted project. Idempotent: safe to re-run.

do $$
begin
  -- Demoting the connected role would lock us out of an existing cluster (DATABASE_URL).
  if current_user = 'postgres' then
    raise exception 'baseline must run as a superuser other than "postgres" (e.g. supabase_admin)';
  end if;
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'postgres') then
    create role postgres;
  end if;
end
$$;

-- Like hosted Supabase: migrations, functions and the worker connect as a non-superuser.
alter role postgres with login password 'postgres' nosuperuser createdb createrole bypassrls inherit;
alter role service_role with bypassrls;
grant anon, authenticated, service_role to authenticator;
-- ADMIN lets postgres grant these roles on; SET lets it `set role` (PostgREST-style tests).
grant anon, authenticated, service_role, supabase_realtime_admin to postgres with admin true, inherit true, set true;

-- The functions' login role (docs/decisions.md, "Functions' database role"): a member of authenticated and
-- nothing else, without its privileges until `set role authenticated` (noinherit), so the
-- functions cannot bypass row security, become service_role or postgres, or create roles.
-- Local password only; on a hosted project the owner creates it with a secret password.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'functions_api') then
    create role functions_api login noinherit password 'functions_api';
  end if;
end
$$;
grant authenticated to functions_api with inherit false, set true;
-- As on a hosted project, where postgres creates the role and so may alter it (its settings are
-- set by a migration).
grant functions_api to postgres with admin true, inherit false, set false;

-- The clone's owner is postgres (see migrate.ts); this covers DBs created another way.
grant all on schema public to postgres;
grant usage on schema public to anon, authenticated, service_role;
-- Deliberately no ALTER DEFAULT PRIVILEGES: new Supabase projects don't auto-grant public tables.

-- auth ----------------------------------------------------------------------------------------
create schema if not exists auth;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_anonymous boolean not null default false,
  created_at timestamptz,
  updated_at timestamptz,
  deleted_at timestamptz
);

-- Exactly as supabase/auth defines them (migrations 20220224000811 and 20220531120530).
create or replace function auth.uid()
returns uuid
language sql stable
as $$
  select
  	coalesce(
		nullif(current_setting('request.jwt.claim.sub', true), ''),
		(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
	)::uuid
$$;

create or replace function auth.role()
returns text
language sql stable
as $$
  select
  	coalesce(
		nullif(current_setting('request.jwt.claim.role', true), ''),
		(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
	)::text
$$;

create or replace function auth.email()
returns text
language sql stable
as $$
  select
  	coalesce(
		nullif(current_setting('request.jwt.claim.email', true), ''),
		(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
	)::text
$$;

create or replace function auth.jwt()
returns jsonb
language sql stable
as $$
  select
    coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

grant usage on schema auth to postgres, anon, authenticated, service_role;
grant select, references on auth.users to postgres;
grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to postgres, anon, authenticated, service_role;

-- realtime (stand-ins; the hosted Realtime service owns the real ones) --------------------------
create schema if not exists realtime;
grant usage, create on schema realtime to supabase_realtime_admin;

create table if not exists realtime.messages (
  id bigserial primary key,
  topic text not null,
  extension text not null default 'broadcast',
  payload jsonb,
  event text,
  private boolean default false,
  inserted_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table realtime.messages owner to supabase_realtime_admin;
alter table realtime.messages enable row level security;

create or replace function realtime.topic()
returns text
language sql stable
as $$
  select nullif(current_setting('realtime.topic', true), '')::text;
$$;

-- Same signature and behaviour as Supabase's: a failed send warns instead of aborting the caller.
-- With the caller's rights and not executable by API roles, as on hosted Supabase: a user must
-- not be able to post on another user's topic here when they cannot there.
-- The NOTIFY (delivered at commit, like the row hosted Realtime reads) names the new row for the
-- local Realtime stand-in (scripts/realtime/), which fetches it by id and broadcasts it.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_id bigint;
begin
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (payload, event, topic, private, extension)
    values (payload, event, topic, private, 'broadcast')
    returning id into v_id;
    perform pg_notify('realtime_messages', v_id::text);
  exception
    when others then
      raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
alter function realtime.topic() owner to supabase_realtime_admin;
revoke execute on function realtime.send(jsonb, text, text, boolean) from public;
grant execute on function realtime.send(jsonb, text, text, boolean) to postgres, service_role;

grant usage on schema realtime to postgres, anon, authenticated, service_role;
grant select on realtime.messages to authenticated;
grant all on realtime.messages to postgres, service_role;
grant usage, select on sequence realtime.messages_id_seq to postgres, service_role;

-- publication (per database) ------------------------------------------------------------------
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
alter publication supabase_realtime owner to postgres;

-- storage (stand-in; hosted Supabase's Storage service owns the real schema) -------------------
-- The tables and helpers as Supabase defines them, with the columns the policies, the RPCs and
-- the local Storage stand-in (scripts/storage/) use. Owned by supabase_storage_admin as on a
-- hosted project; postgres is a member there too, which is what lets a migration create the
-- documented policies on storage.objects.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'supabase_storage_admin') then
    create role supabase_storage_admin nologin noinherit;
  end if;
end
$$;
grant supabase_storage_admin to postgres with inherit true, set true;
create schema if not exists storage authorization supabase_storage_admin;

create table if not exists storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  owner_id text,
  public boolean default false,
  avif_autodetection boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  owner_id text,
  metadata jsonb,
  user_metadata jsonb,
  version text,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now()
);
create unique index if not exists bucketid_objname on storage.objects (bucket_id, name);
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

create or replace function storage.foldername(name text) returns text[]
language plpgsql immutable as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1 : array_length(_parts, 1) - 1];
end
$$;
create or replace function storage.filename(name text) returns text
language plpgsql immutable as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end
$$;
create or replace function storage.extension(name text) returns text
language plpgsql immutable as $$
declare
  _parts text[];
  _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end
$$;
alter function storage.foldername(text) owner to supabase_storage_admin;
alter function storage.filename(text) owner to supabase_storage_admin;
alter function storage.extension(text) owner to supabase_storage_admin;

-- As on hosted projects: the API roles have every table right and RLS decides.
grant usage on schema storage to postgres, anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to postgres, anon, authenticated, service_role;
