// Every SQL statement the worker runs, in one place: thin typed calls of the worker RPCs
// (supabase/migrations/*_worker_rpcs.sql, *_fleet_worker.sql) and the few reads of pg-boss's
// job table. Each runs on whatever executor it is given: the pool (one short statement) or a
// transaction's client.
import type pg from 'pg';
import { deliveryQueueName } from '../../contracts/jobs.ts';
import { type ActionRow, recordActions, takeActions } from './actions/store.ts';
import type { MediaKind, MediaRef } from './gateway/types.ts';

export interface SqlExecutor {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/**
 * Runs `fn` in a transaction on a client checked out of the pool. A connection that dies while
 * checked out emits 'error' on its client, where the pool no longer listens (unheard, it ends
 * the process): the listener here hears it, and the client goes back broken, so the pool drops it.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: SqlExecutor) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onError);
  try {
    await client.query('begin');
    const out = await fn(client);
    await client.query('commit');
    return out;
  } catch (err) {
    if (!broken) await client.query('rollback').catch((e: Error) => onError(e));
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(broken ?? false);
  }
}

/** Namespace of the worker's advisory locks (first key; the second is hashtext(account id)). */
export const LOCK_CLASS = 0x7467; // "tg"

export interface ClaimRow {
  job_id: string;
  delivery_id: string;
  campaign_id: string;
  account_id: string;
  /** test: a test send (campaign_test_sends; delivery_id is its id), sent whatever the campaign's state. */
  action: 'send' | 'skip' | 'test';
  reason: string | null;
  channel_id: string | null;
  peer: string;
  telegram_id: string | null;
  access_hash: string | null;
  random_id: string;
  attempts: number;
  message_text: string;
  parse_mode: 'html' | 'markdown' | 'plain';
  silent: boolean;
  link_preview: boolean;
  campaign_rate_per_minute: number | null;
  /** The campaign's failures that count against max_errors, when taken, and its threshold (null = none). */
  campaign_failed_count: number;
  campaign_max_errors: number | null;
  /** The campaign's file in Storage (null: a text message) and this account's upload of it, if any. */
  media_path: string | null;
  media_kind: MediaKind | null;
  media_mime: string | null;
  media_ref: MediaRef | null;
  /** A test send's: when it was asked for (epoch ms); it is not sent once too old. */
  asked_at?: number;
}

interface Settled {
  deliveryId: string;
  jobId: string;
  accountId: string;
  campaignId: string;
  /** A test send's outcome (worker_record_tests), not a delivery's. */
  test?: boolean;
  /** An action's outcome (worker_record_actions) on the delivery's post, not the delivery's. */
  actionId?: string;
  /** Uploaded for this campaign and account since the last commit: stored with the outcome, for the file at mediaPath. */
  mediaRef?: MediaRef;
  mediaPath?: string;
}
export type Outcome =
  & Settled
  & (
    | { outcome: 'sent'; messageId: number }
    | { outcome: 'done' }
    | { outcome: 'failed' | 'unconfirmed'; errorCode: string; errorMessage: string }
    | { outcome: 'retry'; errorCode: string; errorMessage: string; retryAt: string }
    | { outcome: 'reschedule'; retryAt: string; errorCode?: string; errorMessage?: string }
    | { outcome: 'deferred' | 'skip'; errorCode?: string; errorMessage?: string }
  );

export interface CampaignState {
  id: string;
  accountId: string;
  state: string;
  pauseReason: string | null;
  pending: number;
  sent: number;
  failed: number;
  unconfirmed: number;
}

/** What one account asks of a fetch: up to `limit` jobs, filling its shortest campaign queues first. */
export interface Want {
  accountId: string;
  limit: number;
  /** Deliveries of each campaign the worker already holds for this account. */
  queued: Record<string, number>;
}

/** A claimed job: a delivery's send (or test send), or an action on a sent post. */
export type Claimed = ClaimRow | ActionRow;

/**
 * Fetches due jobs for the accounts (per-account limits) and claims their deliveries and actions.
 * Actions get up to half of each limit first and sends the rest, then actions what sends left:
 * edits share the account's pace with sends and neither waits for the other to finish.
 */
export async function take(
  db: SqlExecutor,
  lockPid: number,
  wants: Want[],
  campaigns: number,
): Promise<Claimed[]> {
  const got = new Map<string, number>();
  const count = <R extends Claimed>(rows: R[]) => {
    for (const r of rows) got.set(r.account_id, (got.get(r.account_id) ?? 0) + 1);
    return rows;
  };
  const left = (share = 1) => wants.map((w) => ({ ...w, limit: Math.ceil((w.limit - (got.get(w.accountId) ?? 0)) * share) }));
  const actions = count(await takeActions(db, lockPid, left(0.5)));
  const { rows } = await db.query('select * from public.worker_take($1, $2::jsonb, $3)', [
    lockPid,
    JSON.stringify(left()),
    campaigns,
  ]);
  const sends = count(rows as ClaimRow[]);
  const more = actions.length ? await takeActions(db, lockPid, left()) : [];
  const tests = sends.filter((r) => r.action === 'test');
  if (tests.length) {
    const asked = await db.query('select id, created_at from public.campaign_test_sends where id = any($1::uuid[])', [
      tests.map((t) => t.delivery_id),
    ]);
    const at = new Map(asked.rows.map((a) => [a.id as string, new Date(a.created_at).getTime()]));
    for (const t of tests) t.asked_at = at.get(t.delivery_id);
  }
  return [...actions, ...sends, ...more];
}

/** Records outcomes (deliveries, test sends and actions on posts) and the uploads they carry, in the caller's transaction. */
export async function record(db: SqlExecutor, results: Outcome[]): Promise<CampaignState[]> {
  const refs = results.filter((o) => o.mediaRef).map((o) => ({
    campaignId: o.campaignId,
    accountId: o.accountId,
    mediaPath: o.mediaPath,
    ref: o.mediaRef,
  }));
  if (refs.length) await db.query('select public.worker_media_refs($1::jsonb)', [JSON.stringify(refs)]);
  const tests = results.filter((o) => o.test);
  if (tests.length) await db.query('select public.worker_record_tests($1::jsonb)', [JSON.stringify(tests)]);
  const actions = results.filter((o) => o.actionId);
  if (actions.length) await recordActions(db, actions.map((o) => ({ ...o, actionId: o.actionId! })));
  const deliveries = tests.length || actions.length ? results.filter((o) => !o.test && !o.actionId) : results;
  if (!deliveries.length) return [];
  const { rows } = await db.query('select public.worker_record($1::jsonb) as r', [JSON.stringify(deliveries)]);
  return (rows[0]?.r ?? []) as CampaignState[];
}

export async function floodWait(db: SqlExecutor, accountId: string, seconds: number): Promise<Date> {
  const { rows } = await db.query('select public.worker_flood_wait($1, $2) as until', [accountId, seconds]);
  return new Date(rows[0].until);
}

export type AccountStatus = 'limited' | 'revoked' | 'frozen' | 'disabled' | 'active';

export async function setAccountStatus(db: SqlExecutor, accountId: string, status: AccountStatus, reason: string): Promise<void> {
  await db.query('select public.worker_account_status($1, $2, $3)', [accountId, status, reason]);
}

/** reason null: Telegram answers this account again. */
export async function setUnreachable(db: SqlExecutor, accountId: string, reason: string | null): Promise<void> {
  await db.query('select public.worker_account_reachable($1, $2)', [accountId, reason]);
}

/** A channel as one account resolved it: its access hash is valid for that account only. */
export interface PeerUpdate {
  accountId: string;
  channelId: string;
  telegramId: string;
  accessHash: string | null;
}

export async function setChannelPeers(db: SqlExecutor, peers: PeerUpdate[]): Promise<void> {
  await db.query('select public.worker_set_channel_peers($1::jsonb)', [JSON.stringify(peers)]);
}

export async function resumeDue(db: SqlExecutor, accountId: string): Promise<number> {
  const { rows } = await db.query('select public.worker_resume_due($1) as n', [accountId]);
  return Number(rows[0]?.n ?? 0);
}

export interface AccountRow {
  id: string;
  status: string;
  rate_per_minute: number;
  flood_wait_until: Date | null;
}

/** ids null: every account, oldest first, at most `limit`. */
export async function readAccounts(db: SqlExecutor, ids: string[] | null, limit = 100_000): Promise<AccountRow[]> {
  const { rows } = await db.query(
    `select id, status, rate_per_minute, flood_wait_until from public.telegram_accounts
     where $1::uuid[] is null or id = any ($1::uuid[]) order by created_at, id limit $2`,
    [ids, limit],
  );
  return rows as AccountRow[];
}

/** When each account's queue next has a job due (now or later), for accounts that have one. */
export async function nextDue(db: SqlExecutor, accountIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query(
    `select a.id::text, (select min(j.start_after) from pgboss.job j
        where j.name = a.name and j.state < 'active' and not j.blocked) as due
     from unnest($1::uuid[], $2::text[]) as a (id, name)`,
    [accountIds, accountIds.map(deliveryQueueName)],
  );
  return new Map(rows.filter((r) => r.due).map((r) => [r.id as string, new Date(r.due).getTime()]));
}

/**
 * Queues holding active jobs that no live worker keeps alive (heartbeat or expiry overdue):
 * jobs of a process that died. pg-boss's supervision of just these queues puts them back.
 */
export async function orphanedQueues(db: SqlExecutor, names: string[]): Promise<string[]> {
  const { rows } = await db.query(
    `select distinct j.name from pgboss.job j
     where j.name = any ($1::text[]) and j.state = 'active'
       and ((j.heartbeat_seconds is not null and j.heartbeat_on < pgboss.job_now() - make_interval(secs => j.heartbeat_seconds))
         or j.started_on < pgboss.job_now() - make_interval(secs => j.expire_seconds))`,
    [names],
  );
  return rows.map((r) => r.name as string);
}

/** pg-boss's NOTIFY channel (payload: the queue name), as the SQL enqueue uses it. */
export async function notifyChannel(db: SqlExecutor): Promise<string> {
  const { rows } = await db.query('select private.pgboss_notify_channel() as c');
  return rows[0].c as string;
}

/** Keeps pg-boss from failing jobs this process still holds (heartbeat, as boss.work does). */
export async function heartbeat(db: SqlExecutor, jobs: Array<{ accountId: string; jobId: string }>): Promise<void> {
  await db.query(
    `update pgboss.job j set heartbeat_on = pgboss.job_now()
     from unnest($1::text[], $2::uuid[]) as h (name, id)
     where j.name = h.name and j.id = h.id and j.state = 'active'`,
    [jobs.map((j) => deliveryQueueName(j.accountId)), jobs.map((j) => j.jobId)],
  );
}

/**
 * Session advisory locks on the lock connection: the accounts of `ids` this session now holds, at
 * most `limit` (null: all it can). The scan stops at the limit: later ids are not even tried.
 */
export async function tryLockAccounts(lockSession: SqlExecutor, ids: string[], limit: number | null = null): Promise<string[]> {
  const { rows } = await lockSession.query(
    'select id::text from unnest($1::uuid[]) as id where pg_try_advisory_lock($2, hashtext(id::text)) limit $3',
    [ids, LOCK_CLASS, limit],
  );
  return rows.map((r) => r.id as string);
}

/** Releases every account lock of the session. */
export async function unlockAllAccounts(lockSession: SqlExecutor): Promise<void> {
  await lockSession.query('select pg_advisory_unlock_all()');
}

/** A NOTIFY on pg-boss's channel for the other workers (payload: not a queue's name). */
export async function notifyWorkers(db: SqlExecutor, channel: string, notice: string): Promise<void> {
  await db.query('select pg_notify($1, $2)', [channel, notice]);
}

/** Renames the session (application_name), e.g. a worker's lock session once it stops. */
export async function renameSession(db: SqlExecutor, name: string): Promise<void> {
  await db.query(`select set_config('application_name', $1, false)`, [name]);
}

/** The live workers (lock sessions named `lockSessionName`) and which of these accounts have work. */
export async function fleetView(
  db: SqlExecutor,
  accountIds: string[],
  lockSessionName: string,
): Promise<{ workers: number; busy: Set<string> }> {
  const { rows } = await db.query(
    `select (select count(*)::int from pg_stat_activity
         where datname = current_database() and application_name = $2) as workers,
       array(select a.id::text from unnest($1::uuid[]) as a (id)
         where exists (select 1 from public.campaigns c where c.account_id = a.id and c.state = 'running')
           or exists (select 1 from public.campaign_test_sends t where t.account_id = a.id and t.state = 'pending')) as busy`,
    [accountIds, lockSessionName],
  );
  return { workers: rows[0].workers as number, busy: new Set(rows[0].busy as string[]) };
}

/**
 * Ends this process's previous lock session if it still runs (a half-open connection the server
 * has not noticed): it holds every account's lock. Matched by pid and start time, so a pid reused
 * by another backend is never touched.
 */
export async function endStaleSession(lockSession: SqlExecutor, pid: number, started: string): Promise<void> {
  await lockSession.query(
    `select pg_terminate_backend(pid, 5000) from pg_stat_activity where pid = $1 and backend_start = $2::timestamptz`,
    [pid, started],
  );
}

export async function unlockAccount(lockSession: SqlExecutor, id: string): Promise<void> {
  await lockSession.query('select pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, id]);
}

/** An account of the database, its status and the worker lock session holding it (none: null). */
export interface FleetAccountRow {
  id: string;
  label: string;
  status: string;
  status_reason: string | null;
  flood_wait_until: Date | null;
  /** Backend pid of the lock session holding the account's advisory lock. */
  lock_pid: number | null;
  /** That session's application_name: which kind of worker (fleet-share.ts), or one stopping. */
  session: string | null;
  client_addr: string | null;
}

/**
 * Every account of the database (oldest first, at most `limit`) with its status and who holds it,
 * in one statement: the lock table is read once and joined by the lock's key.
 */
export async function fleetAccounts(db: SqlExecutor, limit = 100_000): Promise<FleetAccountRow[]> {
  const { rows } = await db.query(
    `with held as materialized (
       select l.objid, min(l.pid) as pid from pg_catalog.pg_locks l
       where l.locktype = 'advisory' and l.granted and l.classid = $1 and l.objsubid = 2
         and l.database = (select oid from pg_catalog.pg_database where datname = current_database())
       group by l.objid)
     select a.id::text, a.label, a.status, a.status_reason, a.flood_wait_until, h.pid as lock_pid,
       s.application_name as session, host(s.client_addr) as client_addr
     from public.telegram_accounts a
     left join held h on h.objid = pg_catalog.hashtext(a.id::text)::oid
     left join pg_catalog.pg_stat_activity s on s.pid = h.pid
     order by a.created_at, a.id limit $2`,
    [LOCK_CLASS, limit],
  );
  return rows as FleetAccountRow[];
}

/** Deletes webhook events past their retention (SQL gates it to one call an hour); how many went. */
export async function pruneWebhookEvents(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query('select public.worker_prune_webhook_events() as n');
  return rows[0].n as number;
}

/** Running campaigns of these accounts with their progress, for /health alerts. */
export async function runningCampaigns(db: SqlExecutor, accountIds: string[]): Promise<
  Array<{
    id: string;
    failed_count: number;
    attempts: number;
    last_progress: Date | null;
  }>
> {
  const { rows } = await db.query(
    `select c.id, c.failed_count,
       (select coalesce(sum(d.attempts), 0) from public.deliveries d where d.campaign_id = c.id)::int as attempts,
       greatest(c.started_at, (select max(d.sent_at) from public.deliveries d where d.campaign_id = c.id)) as last_progress
     from public.campaigns c where c.state = 'running' and c.account_id = any ($1::uuid[])`,
    [accountIds],
  );
  return rows;
}

/** Jobs per queue and state for the metrics: open delivery jobs and the resume queue. */
export async function queueJobCounts(
  db: SqlExecutor,
  accountIds: string[],
  resumeQueue: string,
): Promise<Array<{ name: string; state: string; n: number }>> {
  const { rows } = await db.query(
    `select name, state::text, count(*)::int as n from pgboss.job
     where (name = any ($1::text[]) or name = $2) and state < 'completed' group by name, state`,
    [accountIds.map(deliveryQueueName), resumeQueue],
  );
  return rows;
}

export interface Clearance {
  /** How long the clearance lasts, counted from before the call. */
  validMs: number;
  /** Campaigns whose sends may start meanwhile. */
  running: string[];
  /** Campaigns that no longer run (or are gone): their deliveries go back. */
  stopped: string[];
  /** Campaigns whose actions on sent posts may start meanwhile (not paused, no stop under way). */
  acting: string[];
  /** Campaigns paused (or gone): their held actions go back. */
  paused: string[];
  /** Of the actions asked about, those no longer pending (cancelled, superseded): never run. */
  actionsOver: string[];
}

/**
 * Which of these campaigns may start sends, and actions on their posts, for a while (a pause or
 * cancel waits that out); which of these held actions are no longer to be done.
 */
export async function clearance(db: SqlExecutor, campaignIds: string[], actionIds: string[]): Promise<Clearance> {
  const { rows } = await db.query('select public.worker_clearance($1::uuid[], $2::uuid[]) as c', [
    campaignIds,
    actionIds,
  ]);
  return rows[0].c as Clearance;
}
