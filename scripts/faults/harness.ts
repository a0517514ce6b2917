// One fault scenario's life: a fresh database cloned from the migrated template, an owner with
// its own accounts and channels, a campaign per account, "Telegram" (the MTProto stand-in, in this
// process, with the same accounts and channels made through MTProto: stand-in.ts), real worker
// processes running their GramJS network stack against it, the fault, then the audit (posts per
// target as Telegram's history shows them vs delivery rows vs counters).
import type pg from 'pg';
import { type Audit, audit, clean } from '../bench/checks.ts';
import type { AppDatabase, BenchCluster } from '../bench/cluster.ts';
import { type Fleet, seedFleet, startFleet } from '../bench/fleet-seed.ts';
import { campaignAction, type CampaignRow, now, type Owner, pollingClient, waitSettled } from '../bench/seed.ts';
import { spawnWorker, type WorkerProcess, type WorkerProcessOptions } from '../bench/worker.ts';
import { sleep } from '../../contracts/time.ts';
import { withClient } from '../lib/database.ts';
import type { TelegramStandIn } from '../telegram/mtproto/server.ts';
import type { Post } from '../telegram/world.ts';
import { startScenarioTelegram, type TelegramSide } from './stand-in.ts';

/** The database cluster under test. */
export interface FaultClusters {
  app: BenchCluster;
}

export interface ScenarioSize {
  /** Targets per account (each account has its own channels and one campaign). */
  targets: number;
  /** Accounts of the scenario, all served by each of its workers (default 1). */
  accounts?: number;
  /** The account's pace. */
  ratePerSecond: number;
  /** Upper bound for the campaign to settle after the fault. */
  settleTimeoutMs: number;
  /**
   * The delivery queue's heartbeat (default 10 s from the migration): jobs of a killed worker
   * return after it. Short test runs lower it, like RETRY_BASE_SECONDS scales retries.
   */
  heartbeatSeconds?: number;
}

export interface ScenarioResult {
  name: string;
  ok: boolean;
  seconds: number;
  deliveries: number;
  lost: number;
  duplicated: number;
  counterMismatches: number;
  stateMismatches: number;
  /** Deliveries that failed after all retries (then retried with retry-failed; see notes). */
  failedBeforeRetry: number;
  notes: string[];
  audit?: Audit;
}

/** Worker settings for fault runs: short send timeout and retries, quick recovery of dead jobs. */
export const FAULT_WORKER_ENV: Record<string, string> = {
  SEND_TIMEOUT_MS: '1000',
  RETRY_BASE_SECONDS: '0.2',
  SUPERVISE_SECONDS: '1',
  POLLING_SECONDS: '0.5',
  LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'info',
};

export interface ScenarioContext {
  cluster: BenchCluster;
  db: AppDatabase;
  /** The scenario's Telegram stand-in (its socket faults, its model's fault hooks). */
  telegram: TelegramStandIn;
  /** What Telegram stored so far (each post's peer, time, text and media). */
  posts(): Promise<Post[]>;
  /** The first account's owner, account and channels; peers lists every account's. */
  owner: Owner;
  campaignId: string;
  /** Every campaign (one per account) and account of the scenario. */
  campaignIds: string[];
  accountIds: string[];
  size: ScenarioSize;
  notes: string[];
  /** Broken guarantees found while running; any makes the scenario fail. */
  violations: string[];
  /** What each worker is given for the scenario's Telegram (the sessions in TELEGRAM_ACCOUNTS, the stand-in's address). */
  telegramEnv: Readonly<Record<string, string>>;
  /** Starts a worker for the scenario's accounts (their sessions and the stand-in's address). */
  worker(name: string, extra?: Partial<WorkerProcessOptions>): Promise<WorkerProcess>;
  /** Starts the campaigns as their owners (one transaction); returns the commit time. */
  start(): Promise<number>;
  /** Sent deliveries so far (0 while Postgres is down). */
  sent(): Promise<number>;
  /**
   * A query on the scenario's one polling connection, opened once: a measurement taken
   * mid-fault must not wait on a new connection of a test process that many stand-ins keep busy.
   */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** Waits (bounded) until sent() >= n; false on timeout. */
  waitSent(n: number, timeoutMs: number): Promise<boolean>;
  /** Runs after the scenario's workers are gone (e.g. a proxy they connect through). */
  cleanup(fn: () => Promise<void>): void;
}

export interface ScenarioSpec {
  name: string;
  size: ScenarioSize;
  /** Before the workers start, the stand-in's Telegram is ready: model fault hooks go here. */
  setUp?(ctx: ScenarioContext): void | Promise<void>;
  /** Runs the fault; must leave a worker running (or stopped ones restarted) to finish. */
  run(ctx: ScenarioContext): Promise<void>;
  /** Extra checks once the campaign settled (before the workers stop). */
  after?(ctx: ScenarioContext): Promise<void>;
  /** Posts per target the send audit counts (default: the history at the end; a scenario that deletes them reads it earlier). */
  auditCounts?(): Promise<(peer: string) => number>;
  /** Any delivery recorded failed (before retry-failed) breaks the scenario. */
  noFailures?: boolean;
  /** Disturbs the whole cluster (Postgres restarts): runs alone, before the others. */
  exclusive?: boolean;
  logDir: string;
}

/** Every worker process a scenario started and has not yet seen exit. */
const running = new Set<WorkerProcess>();

/**
 * SIGKILLs every worker the harness started (a test that failed or timed out, an interrupted
 * run). A worker whose harness dies anyway stops by itself: its IPC channel closes.
 */
export async function reapWorkers(): Promise<void> {
  await Promise.all([...running].map((w) => w.kill().catch(() => {})));
}

/**
 * A meeting point for `n` scenarios run side by side: each arrives once its Telegram is set up,
 * and all start their workers together, so no scenario's faults and timeouts run while the
 * others sign their accounts up (CPU of this process, which also serves every stand-in).
 */
export function barrier(n: number): () => Promise<void> {
  let left = n;
  let open = () => {};
  const all = new Promise<void>((resolve) => (open = resolve));
  return () => {
    if (--left <= 0) open();
    return all;
  };
}

/** `setUpDone` (a barrier's arrival) is awaited once the scenario's database and Telegram are ready. */
export async function runScenario(
  clusters: FaultClusters,
  spec: ScenarioSpec,
  setUpDone: () => Promise<void> = async () => {},
): Promise<ScenarioResult> {
  const t0 = now();
  let arrived = false;
  const arrive = () => arrived ? Promise.resolve() : (arrived = true, setUpDone());
  const db = await clusters.app.createDatabase('tg_fault');
  const workers: WorkerProcess[] = [];
  const closers: Array<() => Promise<void>> = [];
  try {
    const fleet = await seedFleet(db, {
      accounts: spec.size.accounts ?? 1,
      campaignsPerAccount: 1,
      targets: spec.size.targets,
      ratePerMinute: Math.round(spec.size.ratePerSecond * 60),
    });
    const owner = await firstOwner(db.url, fleet);
    if (spec.size.heartbeatSeconds) {
      await withClient(
        db.url,
        (c) =>
          c.query(`update pgboss.queue set heartbeat_seconds = $1 where name like 'delivery%'`, [spec.size.heartbeatSeconds]),
      );
    }
    const setUpAt = now();
    const telegram = await startScenarioTelegram(db.url, fleet.campaignIds, spec.size.ratePerSecond);
    closers.push(() => telegram.close());
    const ctx = scenarioContext(clusters.app, db, fleet, owner, telegram, spec, workers, closers);
    await arrive();
    ctx.notes.push(
      `stand-in: ${fleet.accountIds.length} accounts signed up and their channels created over MTProto in ${
        ((now() - setUpAt) / 1000).toFixed(1)
      } s`,
    );
    try {
      await spec.setUp?.(ctx);
      await spec.run(ctx);
    } catch (err) {
      ctx.violations.push(`scenario aborted: ${(err as Error).message.split('\n')[0]}`);
    }
    const { settled, failedBeforeRetry } = await settle(ctx, fleet, spec, telegram);
    await spec.after?.(ctx);
    await Promise.all(workers.map((w) => w.stop()));
    telegram.heal();
    return { ...(await auditScenario(ctx, spec, settled, telegram)), failedBeforeRetry, seconds: (now() - t0) / 1000 };
  } finally {
    void arrive(); // a scenario that failed before its workers keeps no other waiting
    await Promise.all(workers.map((w) => w.kill().catch(() => {})));
    await Promise.all(closers.map((f) => f().catch(() => {})));
    await db.drop().catch(() => {});
  }
}

/** What a scenario's fault and checks work with. */
function scenarioContext(
  cluster: BenchCluster,
  db: AppDatabase,
  fleet: Fleet,
  owner: Owner,
  telegram: TelegramSide,
  spec: ScenarioSpec,
  workers: WorkerProcess[],
  closers: Array<() => Promise<void>>,
): ScenarioContext {
  const { campaignIds, accountIds } = fleet;
  const poll = pollingClient(db.url);
  closers.push(() => poll.end());
  const sent = async () => {
    const rows = await poll.query<{ n: number }>(
      'select coalesce(sum(sent_count), 0)::int as n from public.campaigns where id = any($1::uuid[])',
      [campaignIds],
    ).catch(() => []);
    return rows[0]?.n ?? 0;
  };
  return {
    cluster,
    db,
    telegram: telegram.standIn,
    posts: () => telegram.posts(),
    owner,
    campaignId: campaignIds[0]!,
    campaignIds,
    accountIds,
    size: spec.size,
    notes: [],
    violations: [],
    telegramEnv: telegram.workerEnv,
    async worker(name, extra = {}) {
      const w = await spawnWorker({
        name,
        databaseUrl: db.url,
        accountIds,
        logDir: spec.logDir,
        // A worker start is not what a scenario bounds: its database connections may pass
        // through a proxy in this process, whose event loop the side-by-side stand-ins stall.
        readyTimeoutMs: 60_000,
        ...extra,
        env: { ...FAULT_WORKER_ENV, ...telegram.workerEnv, ...extra.env },
      });
      workers.push(w);
      running.add(w);
      void w.service.exited.then(() => running.delete(w));
      return w;
    },
    start: () => startFleet(db, fleet),
    cleanup: (fn) => void closers.push(fn),
    sent,
    query: (text, values) => poll.query(text, values),
    async waitSent(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if ((await sent()) >= n) return true;
        await sleep(25);
      }
      return false;
    },
  };
}

/** The first account's owner as an Owner; peers are every account's (faulty targets are picked among them). */
async function firstOwner(url: string, fleet: Fleet): Promise<Owner> {
  const o = fleet.owners[0]!;
  const { rows } = await withClient(
    url,
    (c) => c.query<{ id: string; peer: string }>('select id, peer from public.channels order by peer'),
  );
  return { userId: o.userId, accountId: o.accountIds[0]!, channelIds: rows.map((r) => r.id), peers: rows.map((r) => r.peer) };
}

/** Failed, and unknown-outcome (unconfirmed) where the schema has it: what retry-failed resends. */
const retryable = (r: CampaignRow) =>
  r.failed_count + ((r as CampaignRow & { unconfirmed_count?: number }).unconfirmed_count ?? 0);
const failed = (rows: CampaignRow[]) => rows.reduce((a, r) => a + retryable(r), 0);

/**
 * Waits for every campaign to settle. Deliveries that exhausted their retries are the product's
 * "failed" (shown to the user), not lost; retry-failed resends them with the same random_id,
 * which must still not duplicate.
 */
async function settle(
  ctx: ScenarioContext,
  fleet: Fleet,
  spec: ScenarioSpec,
  telegram: TelegramSide,
): Promise<{ settled: boolean; failedBeforeRetry: number }> {
  // After an aborted run nothing may be working the queue: look once instead of waiting.
  const settleMs = ctx.violations.length ? 0 : spec.size.settleTimeoutMs;
  let { settled, rows } = await waitSettled(ctx.db.url, ctx.campaignIds, settleMs);
  const failedBeforeRetry = failed(rows);
  const sum = (k: 'sent_count' | 'failed_count') => rows.reduce((a, r) => a + r[k], 0);
  ctx.notes.push(
    `settled ${settled ? '' : 'NOT '}as ${sum('sent_count')} sent, ${failedBeforeRetry - sum('failed_count')} unknown outcome, ${
      sum('failed_count')
    } failed (before retry-failed)`,
  );
  if (failedBeforeRetry > 0) await failedThoughStored(ctx, telegram);
  if (spec.noFailures && failedBeforeRetry > 0) {
    ctx.violations.push(`${failedBeforeRetry} deliveries recorded failed or unconfirmed`);
  }
  const ownerOf = new Map(fleet.owners.flatMap((o) => o.campaignIds.map((id) => [id, o.userId] as const)));
  for (let round = 0; settled && !ctx.violations.length && failed(rows) > 0 && round < 3; round++) {
    ctx.notes.push(`retry-failed round ${round + 1}: ${failed(rows)} failed or unconfirmed deliveries`);
    for (const r of rows.filter((x) => retryable(x) > 0)) {
      await withClient(ctx.db.url, (c) => campaignAction(c, ownerOf.get(r.id)!, 'retry-failed', r.id));
    }
    ({ settled, rows } = await waitSettled(ctx.db.url, ctx.campaignIds, spec.size.settleTimeoutMs));
  }
  if (!settled) {
    const open = rows.filter((r) => r.state !== 'completed' && r.state !== 'cancelled');
    const sum = (k: 'sent_count' | 'total_count') => rows.reduce((a, r) => a + r[k], 0);
    ctx.violations.push(
      `${open.length || rows.length} campaign(s) did not settle within ${settleMs} ms (states ${
        [...new Set(open.map((r) => r.state))].join('/')
      }, sent ${sum('sent_count')}/${sum('total_count')})`,
    );
  }
  return { settled, failedBeforeRetry };
}

/**
 * A delivery recorded failed whose post Telegram stored is a lie to the user: an outcome the
 * worker could not know must be reported unknown (unconfirmed), never failed. Checked before
 * retry-failed resends (and turns) them.
 */
async function failedThoughStored(ctx: ScenarioContext, telegram: TelegramSide): Promise<void> {
  const count = await telegram.counts();
  const { rows } = await withClient(ctx.db.url, (c) =>
    c.query<{ peer: string; error_code: string | null }>(
      `select peer, error_code from public.deliveries where campaign_id = any($1::uuid[]) and state = 'failed'`,
      [ctx.campaignIds],
    ));
  const stored = rows.filter((r) => count(r.peer) > 0);
  if (stored.length) {
    ctx.violations.push(
      `${stored.length} deliveries recorded failed though Telegram stored their post (e.g. ${stored[0]!.peer}: ${
        stored[0]!.error_code
      })`,
    );
  }
}

/** Posts per target in Telegram (the stand-in's history) against delivery rows and counters. */
async function auditScenario(
  ctx: ScenarioContext,
  spec: ScenarioSpec,
  settled: boolean,
  telegram: TelegramSide,
): Promise<Omit<ScenarioResult, 'seconds' | 'failedBeforeRetry'>> {
  const a = await audit(ctx.db.url, ctx.campaignIds, await (spec.auditCounts?.() ?? telegram.counts()));
  ctx.notes.push(...a.examples, ...ctx.violations.map((v) => `VIOLATION: ${v}`));
  const ok = ctx.violations.length === 0 && settled && clean(a);
  return {
    name: spec.name,
    ok,
    deliveries: a.targets,
    lost: a.lost,
    duplicated: a.duplicated,
    counterMismatches: a.counterMismatches.length,
    stateMismatches: a.stateMismatches,
    notes: ctx.notes,
    audit: a,
  };
}
