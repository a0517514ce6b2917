// The fleet benchmark: one real worker process (simulator mode, 50–150 ms Telegram round trips)
// serving N accounts at their pace, each with its campaigns; per N the aggregate rate against
// the theoretical one, the worker's peak database connections, CPU per delivery of Postgres and
// of the worker, and its RSS. Plus the CPU a worker spends on idle accounts.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { AppDatabase, BenchCluster } from './cluster.ts';
import { postgresCpuMs } from './cpu.ts';
import { type Fleet, type FleetShape, seedFleet, startFleet } from './fleet-seed.ts';
import { now } from './seed.ts';
import { round } from './stats.ts';
import { NODE, spawnWorker, type WorkerProcess } from './worker.ts';
import { sleep } from '../../contracts/time.ts';

export interface FleetPoint extends FleetShape {
  /** Other processes spinning on this many cores while the point runs (a machine shared with other work). */
  busyCores?: number;
}

/** Processes that keep `n` cores busy until stopped. */
function burnCores(n: number): () => void {
  const procs = Array.from({ length: n }, () => spawn(NODE, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  return () => {
    for (const p of procs) p.kill('SIGKILL');
  };
}

export interface FleetResult {
  accounts: number;
  campaignsPerAccount: number;
  targets: number;
  ratePerMinute: number;
  deliveries: number;
  /** Cores other processes kept busy meanwhile. */
  busyCores: number;
  /** Sent (or failed) when the point ended: all of them, or what an unfinished run managed. */
  delivered: number;
  failed: number;
  finished: boolean;
  seconds: number;
  theoreticalSeconds: number;
  /** seconds / theoreticalSeconds; null when unfinished. */
  ratio: number | null;
  deliveriesPerSecond: number;
  theoreticalPerSecond: number;
  peakConnections: number;
  dbCpuMsPerDelivery: number | null;
  workerCpuMsPerDelivery: number | null;
  rssMb: number | null;
  /** 1-minute load average when the point started and ended (other work on the machine). */
  load: [number, number];
  error?: string;
}

/** Telegram as the fleet sees it: realistic round trips, its own limits above every pace. */
const FLEET_SIMULATOR = { latencyMs: [50, 150], accountPerSecond: 100, chatPerMinute: 20 };

/** /proc/<pid>/status VmHWM (peak resident set) in MB, or another of its sizes (VmRSS: now). */
export function peakRssMb(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number | null {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

/**
 * Connections to the database that are not the benchmark's own (application_name tg-bench*) or
 * the simulator's store: the worker's, whatever it names them. Sampled every `everyMs`.
 */
export function connectionSampler(db: AppDatabase, everyMs = 250) {
  const c = new pg.Client({ connectionString: db.adminUrl, application_name: 'tg-bench connections' });
  let peak = 0;
  let stopped = false;
  const loop = (async () => {
    await c.connect();
    while (!stopped) {
      const { rows } = await c.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
         where datname = $1 and backend_type = 'client backend'
           and coalesce(application_name, '') not like 'tg-bench%' and coalesce(application_name, '') not like 'tg-simulator%'`,
        [db.name],
      );
      peak = Math.max(peak, rows[0]!.n);
      await sleep(everyMs);
    }
  })().catch(() => {});
  return {
    peak: () => peak,
    async stop(): Promise<number> {
      stopped = true;
      await loop;
      await c.end().catch(() => {});
      return peak;
    },
  };
}

interface Progress {
  total: number;
  settled: number;
  campaigns: number;
  delivered: number;
  failed: number;
  lastCompletedAt: number | null;
}

async function progress(c: pg.Client, ids: string[]): Promise<Progress> {
  const { rows } = await c.query(
    `select coalesce(sum(total_count), 0)::int as total, count(*)::int as campaigns,
            count(*) filter (where state in ('completed', 'cancelled'))::int as settled,
            coalesce(sum(sent_count + failed_count), 0)::int as delivered, coalesce(sum(failed_count), 0)::int as failed,
            extract(epoch from max(completed_at)) * 1000 as last
     from public.campaigns where id = any($1::uuid[])`,
    [ids],
  );
  const r = rows[0];
  return {
    total: r.total,
    campaigns: r.campaigns,
    settled: r.settled,
    delivered: r.delivered,
    failed: r.failed,
    lastCompletedAt: r.last === null ? null : Number(r.last),
  };
}

/** Waits until every campaign settled or the deadline passed; the last view and its time. */
async function waitFleet(db: AppDatabase, ids: string[], deadline: number): Promise<{ p: Progress; at: number }> {
  const c = new pg.Client({ connectionString: db.url, application_name: 'tg-bench progress' });
  await c.connect();
  try {
    for (;;) {
      const p = await progress(c, ids);
      const at = now();
      if (p.settled === p.campaigns || Date.now() > deadline) return { p, at };
      await sleep(500);
    }
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * A worker for the fleet's accounts (listed explicitly), ready when its /health answers 200;
 * `real` runs another entry with other environment (the real-client points, fleet-real.ts).
 */
export async function fleetWorker(
  db: AppDatabase,
  name: string,
  accountIds: string[],
  real?: { entry: string; env: Record<string, string>; servingMs: number },
): Promise<WorkerProcess> {
  const w = await spawnWorker({
    name,
    databaseUrl: db.url,
    accountIds,
    simulator: FLEET_SIMULATOR,
    simulatorStore: 'memory',
    logDir: 'bench/fleet',
    readyTimeoutMs: 60_000,
    entry: real?.entry,
    env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', ...real?.env },
  });
  // Listening is not serving: give its accounts up to 30 s to leave 'starting' (or a lock wait).
  const until = Date.now() + (real?.servingMs ?? 30_000);
  while (Date.now() < until && !(await serving(w.port))) await sleep(250);
  return w;
}

export async function serving(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) });
    if (!r.ok) return false;
    const h = await r.json() as { accounts?: Array<{ status?: string }> };
    return !h.accounts?.some((a) => a.status === 'starting' || a.status === 'waiting_lock');
  } catch {
    return false;
  }
}

export const load1 = () => round(loadavg()[0]!, 2);

/** Why the worker is gone (its exit and last log line), or undefined while it runs. */
export function watchExit(w: WorkerProcess): () => string | undefined {
  let code: number | string | undefined;
  void w.service.exited.then((c) => {
    code = c;
  });
  return () => (code === undefined
    ? undefined
    : `worker exited (${code}): ${w.service.tail().trim().split('\n').at(-1)?.slice(0, 300) ?? ''}`);
}

/** One fleet point on a fresh database: seed, start a worker, start everything, measure. */
export async function runFleetPoint(
  cluster: BenchCluster,
  point: FleetPoint,
  log: (m: string) => void = () => {},
): Promise<FleetResult> {
  const db = await cluster.createDatabase('tg_fleet');
  let worker: WorkerProcess | undefined;
  const loadStart = load1();
  const perSecond = point.ratePerMinute / 60;
  const theoreticalSeconds = (point.campaignsPerAccount * point.targets) / perSecond;
  const base = {
    accounts: point.accounts,
    campaignsPerAccount: point.campaignsPerAccount,
    targets: point.targets,
    ratePerMinute: point.ratePerMinute,
    deliveries: point.accounts * point.campaignsPerAccount * point.targets,
    busyCores: point.busyCores ?? 0,
    theoreticalSeconds,
    theoreticalPerSecond: point.accounts * perSecond,
  };
  try {
    const t = Date.now();
    const fleet = await seedFleet(db, point);
    log(
      `  seeded ${fleet.accountIds.length} accounts, ${fleet.campaignIds.length} campaigns in ${
        ((Date.now() - t) / 1000).toFixed(1)
      } s`,
    );
    worker = await fleetWorker(db, `fleet-${point.accounts}x${point.campaignsPerAccount}`, fleet.accountIds);
    const died = watchExit(worker);
    const stopBurning = burnCores(point.busyCores ?? 0);
    try {
      const m = await measure(cluster, db, fleet, worker, theoreticalSeconds);
      return { ...base, ...m, load: [loadStart, load1()], ...(died() ? { error: died() } : {}) };
    } finally {
      stopBurning();
    }
  } catch (err) {
    return {
      ...base,
      delivered: 0,
      failed: 0,
      finished: false,
      seconds: 0,
      ratio: null,
      deliveriesPerSecond: 0,
      peakConnections: 0,
      dbCpuMsPerDelivery: null,
      workerCpuMsPerDelivery: null,
      rssMb: null,
      load: [loadStart, load1()],
      error: (err as Error).message.split('\n')[0],
    };
  } finally {
    await worker?.stop(10_000).catch(() => {});
    await db.drop().catch(() => {});
  }
}

export type Measured = Omit<
  FleetResult,
  | 'accounts'
  | 'campaignsPerAccount'
  | 'targets'
  | 'ratePerMinute'
  | 'deliveries'
  | 'busyCores'
  | 'theoreticalSeconds'
  | 'theoreticalPerSecond'
  | 'load'
>;

/** Starts the fleet's campaigns and waits (bounded: 3× theoretical + 30 s) while sampling. */
export async function measure(
  cluster: BenchCluster,
  db: AppDatabase,
  fleet: Fleet,
  worker: WorkerProcess,
  theoreticalSeconds: number,
): Promise<Measured> {
  const pgPid = await cluster.postmasterPid();
  const sampler = connectionSampler(db);
  const w0 = worker.cpuMs();
  const p0 = pgPid ? postgresCpuMs(pgPid) : undefined;
  const t0 = await startFleet(db, fleet);
  const { p, at } = await waitFleet(db, fleet.campaignIds, Date.now() + theoreticalSeconds * 3000 + 30_000);
  const w1 = worker.cpuMs();
  const p1 = pgPid ? postgresCpuMs(pgPid) : undefined;
  const peakConnections = await sampler.stop();
  const finished = p.settled === p.campaigns;
  // Finished: when the last campaign's completion committed; unfinished: when we gave up.
  const end = finished && p.lastCompletedAt !== null ? Math.min(at, Math.max(p.lastCompletedAt, t0)) : at;
  const seconds = (end - t0) / 1000;
  const n = Math.max(p.delivered, 1);
  return {
    delivered: p.delivered,
    failed: p.failed,
    finished,
    seconds: round(seconds, 2),
    ratio: finished ? round(seconds / theoreticalSeconds, 3) : null,
    deliveriesPerSecond: round(p.delivered / seconds, 1),
    peakConnections,
    dbCpuMsPerDelivery: p0 !== undefined && p1 !== undefined ? round((p1 - p0) / n, 3) : null,
    workerCpuMsPerDelivery: w0 !== undefined && w1 !== undefined ? round((w1 - w0) / n, 3) : null,
    rssMb: peakRssMb(worker.pid),
  };
}

export interface IdleResult {
  accounts: number;
  seconds: number;
  warmupSeconds: number;
  /** Worker CPU over the window, percent of one core. */
  cpuPercent: number | null;
  /** Postgres CPU over the same window (the worker's polling shows here too). */
  dbCpuPercent: number | null;
  peakConnections: number;
  rssMb: number | null;
  error?: string;
}

/** CPU of a worker serving `accounts` accounts with nothing to send, over `seconds` after a warm-up. */
export async function idleCost(
  cluster: BenchCluster,
  accounts: number,
  seconds: number,
  log: (m: string) => void = () => {},
  warmupSeconds = seconds,
): Promise<IdleResult> {
  const db = await cluster.createDatabase('tg_idle');
  let worker: WorkerProcess | undefined;
  try {
    const fleet = await seedFleet(db, { accounts, campaignsPerAccount: 0, targets: 0, ratePerMinute: 60 });
    worker = await fleetWorker(db, `idle-${accounts}`, fleet.accountIds);
    const died = watchExit(worker);
    // Start-up work is not idling, and it goes on after /health says ready: with 1,000 accounts
    // one burst 10–15 s after the start (5 s at ~20 % of a core, Postgres ~50 %), then ~1–2 %.
    await sleep(warmupSeconds * 1000);
    log(`  idle: ${accounts} accounts, measuring ${seconds} s`);
    const pgPid = await cluster.postmasterPid();
    const sampler = connectionSampler(db);
    const w0 = worker.cpuMs();
    const p0 = pgPid ? postgresCpuMs(pgPid) : undefined;
    const t0 = now();
    await sleep(seconds * 1000);
    const ms = now() - t0;
    const w1 = worker.cpuMs();
    const p1 = pgPid ? postgresCpuMs(pgPid) : undefined;
    const pct = (
      a: number | undefined,
      b: number | undefined,
    ) => (a !== undefined && b !== undefined ? round((100 * (b - a)) / ms, 2) : null);
    const error = died();
    return {
      accounts,
      seconds,
      warmupSeconds,
      cpuPercent: error ? null : pct(w0, w1),
      dbCpuPercent: pct(p0, p1),
      peakConnections: await sampler.stop(),
      rssMb: peakRssMb(worker.pid),
      ...(error ? { error } : {}),
    };
  } catch (err) {
    return {
      accounts,
      seconds,
      warmupSeconds,
      cpuPercent: null,
      dbCpuPercent: null,
      peakConnections: 0,
      rssMb: null,
      error: (err as Error).message.split('\n')[0],
    };
  } finally {
    await worker?.stop(10_000).catch(() => {});
    await db.drop().catch(() => {});
  }
}
