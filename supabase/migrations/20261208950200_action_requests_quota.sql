-- A per-user quota of action requests on sent posts: edits of the message, delete-posts and
-- changes of deleteAfter or pin (pin, unpin) of a campaign that has posts (not in draft or
-- scheduled), at most quota action_requests an hour, so one user cannot fill the accounts' shared
-- queues with actions. Past it the request answers 429 naming the quota and writes nothing.
-- Each such RPC records itself in the audit log as its last step; the check sits there, so every
-- path to those RPCs is counted and a refusal rolls back all the request wrote.

insert into private.quota_limits (name, value, description) values
  ('action_requests', 60, 'action requests on sent posts (edit, delete, pin, unpin) per user per hour')
on conflict (name) do nothing;

create table private.action_requests (
  owner_id uuid not null references auth.users (id) on delete cascade,
  campaign_id uuid not null,
  asked_at timestamptz not null default clock_timestamp()
);
create index action_requests_owner on private.action_requests (owner_id, asked_at);
revoke all on private.action_requests from public, anon, authenticated;

create function private.enforce_action_requests() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_limit integer := private.quota(new.owner_id, 'action_requests');
begin
  if (select state from public.campaigns where id = new.entity_id) in ('draft', 'scheduled') then
    return new; -- no posts yet: the settings apply to posts as they are sent
  end if;
  -- one count at a time per owner
  perform pg_advisory_xact_lock(hashtext('action_requests'), hashtext(new.owner_id::text));
  if (select count(*) from private.action_requests where owner_id = new.owner_id
      and asked_at > clock_timestamp() - interval '1 hour') >= v_limit then
    raise exception 'quota exceeded: at most % action requests on sent posts an hour (quota "action_requests")', v_limit
      using errcode = 'PT429', detail = jsonb_build_object('quota', 'action_requests', 'limit', v_limit)::text,
        hint = 'wait for older requests to leave the hour, or ask the project owner to raise the limit';
  end if;
  insert into private.action_requests (owner_id, campaign_id) values (new.owner_id, new.entity_id);
  return new;
end $$;
revoke execute on function private.enforce_action_requests() from public, anon, authenticated;

create trigger audit_log_action_requests before insert on public.audit_log
  for each row when (new.action in ('edit_message', 'delete_posts', 'set_post_actions'))
  execute function private.enforce_action_requests();
