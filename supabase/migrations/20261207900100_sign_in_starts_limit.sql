-- Sign-ins started per user are limited too: each start makes the workers ask Telegram for a code
-- (auth.sendCode) with the deployment's api_id, and Telegram's flood limits count the app and the
-- workers' addresses as well as the number; one user starting sign-ins in a loop must not spend
-- them for everyone (docs/decisions.md, "Sign-in through the API"). Counted per hour like wrong
-- codes, refused with 429 before the step is queued.
create table private.login_starts (
  owner_id uuid not null,
  at timestamptz not null default clock_timestamp()
);
create index login_starts_owner on private.login_starts (owner_id, at);
alter table private.login_starts enable row level security;
revoke all on private.login_starts from public, anon, authenticated, service_role;

insert into private.quota_limits (name, value, description) values
  ('login_starts', 30, 'sign-ins started (phone or bot token) per user per hour')
on conflict (name) do nothing;

create function private.count_login_start() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_limit integer := private.quota(new.owner_id, 'login_starts');
begin
  delete from private.login_starts where owner_id = new.owner_id and at <= now() - interval '1 hour';
  if (select count(*) from private.login_starts where owner_id = new.owner_id) >= v_limit then
    raise exception 'too many sign-ins started: at most % per hour; try again later', v_limit
      using errcode = 'PT429', detail = jsonb_build_object('quota', 'login_starts', 'limit', v_limit)::text;
  end if;
  insert into private.login_starts (owner_id) values (new.owner_id);
  return new;
end $$;
revoke execute on function private.count_login_start() from public, anon, authenticated;

create trigger login_steps_count_starts before insert on private.login_steps
  for each row when (new.kind in ('phone', 'bot'))
  execute function private.count_login_start();
