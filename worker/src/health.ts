// HTTP for process managers and Prometheus: GET /health (JSON, 503 when not serving) and
// GET /metrics. Alert conditions are computed here from the accounts and the database and
// exposed both ways. /health also lists every account of the database with its status (the
// API's vocabulary) and the worker holding it, from one statement.
import { createServer, type Server } from 'node:http';
import type pg from 'pg';
import type { AccountStatus as DbStatus } from '../../contracts/api/accounts.ts';
import { CAMPAIGN_RESUME_QUEUE } from '../../contracts/jobs.ts';
import type { Account } from './account/account.ts';
import * as db from './db.ts';
import { HELD_ELSEWHERE } from './fleet.ts';
import type { Metrics } from './metrics.ts';

/** Who holds an account's lock: a worker's lock session (lockPid as that worker's /health names it). */
export interface Holder {
  lockPid: number;
  /** This worker. */
  self: boolean;
  /** The session's application_name: 'tg-worker shared', 'tg-worker locks' (a list of its own) or 'tg-worker stopping'. */
  session: string | null;
  clientAddr: string | null;
}

/** An account's status in the database: the API's vocabulary (GET /accounts). */
interface DbState {
  status: DbStatus;
  statusReason: string | null;
  floodWaitUntil: string | null;
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'stopping';
  /** This worker's lock session (0 while it has none). */
  worker: { lockPid: number };
  /** The accounts this worker serves: its own state (status, reason) and the database's (null: not read). */
  accounts: Array<
    { accountId: string; status: string; reason: string | null; lastSentAt: string | null; database: DbState | null }
  >;
  /** Every account of the database and who holds it; null when the database did not answer. */
  fleet: Array<{ accountId: string; label: string; heldBy: Holder | null } & DbState> | null;
  alerts: Array<{ condition: string; subject: string; detail: string }>;
}

const FIVE_MINUTES = 5 * 60_000;

interface HealthSources {
  pool: pg.Pool;
  accounts: () => Account[];
  stopping: () => boolean;
  /** When the account last fetched (the database answered), or when fetching began. */
  lastFetchAt: (accountId: string) => number;
  /** Jobs due this long with no fetch for as long: the account is stuck. */
  stallMs: number;
  /** Backend pid of this worker's lock session (0 while it has none). */
  lockPid: () => number;
}

/**
 * Accounts that should fetch and do not: jobs due for stallMs, nothing queued, no fetch for
 * stallMs, and no reason to wait (FLOOD_WAIT, another worker, Telegram away have their own).
 */
async function notFetching(o: HealthSources, accounts: Account[]): Promise<HealthReport['alerts']> {
  const since = Date.now() - o.stallMs;
  const idle = accounts.filter((a) =>
    (a.status === 'running' || a.status === 'starting' || (a.status === 'waiting_lock' && a.statusReason !== HELD_ELSEWHERE)) &&
    a.pacer.blockedUntil <= Date.now() && a.queued === 0 && o.lastFetchAt(a.id) < since
  );
  if (!idle.length) return [];
  const due = await db.nextDue(o.pool, idle.map((a) => a.id));
  return idle.filter((a) => (due.get(a.id) ?? Infinity) < since).map((a) => ({
    condition: 'not_fetching',
    subject: a.id,
    detail: `jobs due since ${new Date(due.get(a.id)!).toISOString()}, no fetch for ${
      Math.round((Date.now() - o.lastFetchAt(a.id)) / 1000)
    } s (${a.status}${a.statusReason ? `: ${a.statusReason}` : ''})`,
  }));
}

/** Every account of the database as /health shows it (null: the database did not answer, see the alert). */
async function fleetReport(o: HealthSources): Promise<{ fleet: HealthReport['fleet']; alert: HealthReport['alerts'] }> {
  try {
    const me = o.lockPid();
    const fleet = (await db.fleetAccounts(o.pool)).map((r) => ({
      accountId: r.id,
      label: r.label,
      status: r.status as DbStatus,
      statusReason: r.status_reason,
      floodWaitUntil: r.flood_wait_until ? new Date(r.flood_wait_until).toISOString() : null,
      heldBy: r.lock_pid === null
        ? null
        : { lockPid: r.lock_pid, self: r.lock_pid === me, session: r.session, clientAddr: r.client_addr },
    }));
    return { fleet, alert: [] };
  } catch (err) {
    return { fleet: null, alert: databaseAlert(err) };
  }
}

const databaseAlert = (err: unknown): HealthReport['alerts'] => [
  { condition: 'database', subject: 'worker', detail: String((err as Error).message) },
];

/** Alerts and report of the accounts a worker serves; scrape() refreshes the metrics' gauges. */
export function healthReporter(o: HealthSources) {
  const alerts = async (): Promise<HealthReport['alerts']> => {
    const out: HealthReport['alerts'] = [];
    const accounts = o.accounts();
    for (const a of accounts) {
      if (a.status === 'session_lost') out.push({ condition: 'session_lost', subject: a.id, detail: a.statusReason ?? '' });
      // Stopped by Telegram (PEER_FLOOD, a frozen account): nothing sends until the owner acts.
      if (a.status === 'account_stopped') out.push({ condition: 'account_stopped', subject: a.id, detail: a.statusReason ?? '' });
      if (a.status === 'unreachable') {
        out.push({ condition: 'telegram_unreachable', subject: a.id, detail: a.statusReason ?? '' });
      }
    }
    if (!accounts.length) return out;
    out.push(...await notFetching(o, accounts));
    for (const c of await db.runningCampaigns(o.pool, accounts.map((a) => a.id))) {
      if (c.attempts >= 10 && c.failed_count > 0.1 * c.attempts) {
        out.push({ condition: 'failure_rate', subject: c.id, detail: `${c.failed_count} failed of ${c.attempts} attempts` });
      }
      if (c.last_progress && Date.now() - new Date(c.last_progress).getTime() > FIVE_MINUTES) {
        out.push({ condition: 'stalled', subject: c.id, detail: 'no delivery for 5 minutes while running' });
      }
    }
    return out;
  };
  const report = async (): Promise<HealthReport> => {
    const [{ fleet, alert }, a] = await Promise.all([
      fleetReport(o),
      alerts().catch(databaseAlert),
    ]);
    const inDb = new Map(fleet?.map((f) => [f.accountId, f]));
    const accounts = o.accounts().map((x) => {
      const f = inDb.get(x.id);
      return {
        accountId: x.id,
        status: x.status,
        reason: x.statusReason,
        lastSentAt: x.lastSentAt ? new Date(x.lastSentAt).toISOString() : null,
        database: f ? { status: f.status, statusReason: f.statusReason, floodWaitUntil: f.floodWaitUntil } : null,
      };
    });
    const all = a.some((x) => x.condition === 'database') ? a : [...a, ...alert];
    const status = o.stopping() ? 'stopping' : all.length ? 'degraded' : 'ok';
    return { status, worker: { lockPid: o.lockPid() }, accounts, fleet, alerts: all };
  };
  const scrape = async (metrics: Metrics): Promise<void> => {
    const accounts = o.accounts();
    metrics.queueJobs.reset();
    for (const r of await db.queueJobCounts(o.pool, accounts.map((a) => a.id), CAMPAIGN_RESUME_QUEUE)) {
      metrics.queueJobs.set({ queue: r.name, state: r.state }, r.n);
    }
    metrics.alert.reset();
    for (const a of await alerts().catch(databaseAlert)) metrics.alert.set({ condition: a.condition, subject: a.subject }, 1);
    for (const a of accounts) {
      metrics.floodWaitSeconds.set({ account: a.id }, Math.max(0, a.pacer.blockedUntil - Date.now()) / 1000);
    }
  };
  return { report, scrape };
}

export function startHttp(opts: {
  host: string;
  port: number;
  metrics: Metrics;
  health(): Promise<HealthReport>;
  /** Refreshes DB-derived gauges (queue depth, alerts) right before a scrape. */
  beforeScrape(): Promise<void>;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    void (async () => {
      try {
        if (url === '/health' || url === '/healthz') {
          const h = await opts.health();
          res.writeHead(h.status === 'stopping' ? 503 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(h));
        } else if (url === '/metrics') {
          await opts.beforeScrape().catch(() => {});
          res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
          res.end(await opts.metrics.registry.metrics());
        } else {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'not_found', message: 'GET /health or /metrics' } }));
        }
      } catch (err) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'error', message: String((err as Error).message) }));
      }
    })();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve(server));
  });
}
