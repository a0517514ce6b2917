// One fault scenario's life: a fresh database cloned from the migrated template, an owner with
// its own account and channels, a campaign, real worker processes, the fault, then the audit
// (messages per target in the simulator's store vs delivery rows vs counters).
import { PostgresMessageStore } from '../../worker/src/simulator/store.ts';
import { audit, clean, type Audit } from '../bench/checks.ts';
import type { AppDatabase, BenchCluster } from '../bench/cluster.ts';
import { campaignAction, createCampaign, now, pollingClient, seedOwner, waitSettled, withPg, type Owner } from '../bench/seed.ts';
import { spawnWorker, type WorkerProcess, type WorkerProcessOptions } from '../bench/worker.ts';

export interface ScenarioSize {
  targets: number;
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
  owner: Owner;
  campaignId: string;
  size: ScenarioSize;
  notes: string[];
  /** Broken guarantees found while running; any makes the scenario fail. */
  violations: string[];
  /** Starts a worker for the scenario's account (simulator config merged in). */
  worker(name: string, extra?: Partial<WorkerProcessOptions>): Promise<WorkerProcess>;
  /** Starts the campaign as its owner; returns the commit time. */
  start(): Promise<number>;
  /** Sent deliveries so far (0 while Postgres is down). */
  sent(): Promise<number>;
  /** Waits (bounded) until sent() >= n; false on timeout. */
  waitSent(n: number, timeoutMs: number): Promise<boolean>;
}

export interface ScenarioSpec {
  name: string;
  size: ScenarioSize;
  /** SIMULATOR_CONFIG for every worker of the scenario. */
  simulator?: (owner: Owner) => Record<string, unknown>;
  /** Runs the fault; must leave a worker running (or stopped ones restarted) to finish. */
  run(ctx: ScenarioContext): Promise<void>;
  /** Extra checks once the campaign settled (before the workers stop). */
  after?(ctx: ScenarioContext): Promise<void>;
  logDir: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runScenario(cluster: BenchCluster, spec: ScenarioSpec): Promise<ScenarioResult> {
  const t0 = now();
  const db = await cluster.createDatabase('tg_fault');
  const workers: WorkerProcess[] = [];
  const notes: string[] = [];
  const violations: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  try {
    const owner = await withPg(db.url, (c) => seedOwner(db, c, {
      channels: spec.size.targets, ratePerMinute: Math.round(spec.size.ratePerSecond * 60), tag: 'f' }));
    if (spec.size.heartbeatSeconds) {
      await withPg(db.url, (c) => c.query('update pgboss.queue set heartbeat_seconds = $1 where name = $2',
        [spec.size.heartbeatSeconds, `delivery.${owner.accountId}`]));
    }
    const campaignId = await withPg(db.url, (c) => createCampaign(c, owner.userId, { channelIds: owner.channelIds, name: spec.name }));
    const simulator = {
      // Telegram's own limit sits above our pace: the pacing is the worker's job.
      accountPerSecond: Math.max(100, spec.size.ratePerSecond * 3),
      ...spec.simulator?.(owner),
    };
    const poll = pollingClient(db.url);
    closers.push(() => poll.end());
    const sent = async () => {
      const rows = await poll.query<{ sent_count: number }>('select sent_count from public.campaigns where id = $1', [campaignId]).catch(() => []);
      return rows[0]?.sent_count ?? 0;
    };
    const ctx: ScenarioContext = {
      cluster, db, owner, campaignId, size: spec.size, notes, violations,
      async worker(name, extra = {}) {
        const w = await spawnWorker({
          name, databaseUrl: db.url, accountIds: [owner.accountId], simulator, logDir: spec.logDir,
          ...extra, env: { ...FAULT_WORKER_ENV, ...extra.env },
        });
        workers.push(w);
        return w;
      },
      start: () => withPg(db.url, (c) => campaignAction(c, owner.userId, 'start', campaignId)),
      sent,
      async waitSent(n, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          if ((await sent()) >= n) return true;
          await sleep(25);
        }
        return false;
      },
    };
    try {
      await spec.run(ctx);
    } catch (err) {
      violations.push(`scenario aborted: ${(err as Error).message.split('\n')[0]}`);
    }

    // After an aborted run nothing may be working the queue: look once instead of waiting.
    const settleMs = violations.length ? 0 : spec.size.settleTimeoutMs;
    let { settled, rows } = await waitSettled(db.url, [campaignId], settleMs);
    const failedBeforeRetry = rows[0]?.failed_count ?? 0;
    // Deliveries that exhausted their retries are the product's "failed" (shown to the user),
    // not lost; retry-failed resends them with the same random_id, which must still not duplicate.
    for (let round = 0; settled && !violations.length && (rows[0]?.failed_count ?? 0) > 0 && round < 3; round++) {
      notes.push(`retry-failed round ${round + 1}: ${rows[0]!.failed_count} failed deliveries`);
      await withPg(db.url, (c) => campaignAction(c, owner.userId, 'retry-failed', campaignId));
      ({ settled, rows } = await waitSettled(db.url, [campaignId], spec.size.settleTimeoutMs));
    }
    if (!settled) violations.push(`campaign did not settle within ${settleMs} ms (state ${rows[0]?.state}, sent ${rows[0]?.sent_count}/${rows[0]?.total_count})`);
    await spec.after?.(ctx);
    await Promise.all(workers.map((w) => w.stop()));

    const store = new PostgresMessageStore(db.url);
    let counts: Map<string, number>;
    try {
      counts = await store.countsByPeer();
    } finally {
      await store.close();
    }
    const a = await audit(db.url, [campaignId], (peer) => counts.get(peer) ?? 0);
    notes.push(...a.examples, ...violations.map((v) => `VIOLATION: ${v}`));
    const ok = violations.length === 0 && settled && clean(a);
    return {
      name: spec.name, ok, seconds: (now() - t0) / 1000, deliveries: a.targets, lost: a.lost, duplicated: a.duplicated,
      counterMismatches: a.counterMismatches.length, stateMismatches: a.stateMismatches, failedBeforeRetry, notes, audit: a,
    };
  } finally {
    await Promise.all(workers.map((w) => w.kill().catch(() => {})));
    await Promise.all(closers.map((f) => f()));
    await db.drop().catch(() => {});
  }
}
