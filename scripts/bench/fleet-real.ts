// Fleet points on real clients: the worker runs its real GramJS network stack (gramjs mode,
// TELEGRAM_SERVER) against the Telegram stand-in over MTProto on loopback, every account a GramJS
// client of its own. The stand-in runs in a process of its own (standin-child.ts) so its CPU is
// measured apart from the worker's. Accounts get their sessions from the stand-in directly
// (scripts/telegram/sessions.ts, a stand-in-only shortcut that skips the DH key exchange); each
// account creates its campaign's channels, so it posts as their creator.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../contracts/time.ts';
import { withClient } from '../lib/database.ts';
import type { AppDatabase, BenchCluster } from './cluster.ts';
import { processCpuMs } from './cpu.ts';
import { type FleetPoint, fleetWorker, load1, measure, type Measured, peakRssMb, serving, watchExit } from './fleet.ts';
import { type Fleet, seedFleet } from './fleet-seed.ts';
import { RESULTS_ROOT, table } from './report.ts';
import { now } from './seed.ts';
import { round } from './stats.ts';
import { NODE, type WorkerProcess } from './worker.ts';

export interface StandInEntry {
  dcs: Array<{ id: number; host: string; port: number }>;
  publicKeyPem: string;
  apiId: number;
  apiHash: string;
}

export interface StandInProcess {
  entry: StandInEntry;
  call<T>(op: string, args?: object): Promise<T>;
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

/** The stand-in in a child process, its log in .local/bench/fleet/standin.log. */
export async function startStandInProcess(): Promise<StandInProcess> {
  const logs = join(RESULTS_ROOT, 'bench/fleet');
  mkdirSync(logs, { recursive: true });
  const logFd = openSync(join(logs, 'standin.log'), 'a');
  const proc: ChildProcess = fork(new URL('./standin-child.ts', import.meta.url), [], {
    execPath: NODE,
    stdio: ['ignore', logFd, logFd, 'ipc'],
  });
  closeSync(logFd);
  const waiting = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  let next = 0;
  const entry = await new Promise<StandInEntry>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`the stand-in exited (${code}) before it was ready`)));
    proc.once('message', (m: { ready: StandInEntry }) => resolve(m.ready));
  });
  proc.on('message', (m: { id: number; value: never; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(m.error));
    else w?.resolve(m.value);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  void exited.then(() => waiting.forEach((w) => w.reject(new Error('the stand-in exited'))));
  return {
    entry,
    call: <T>(op: string, args: object = {}) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve: resolve as (v: never) => void, reject });
        proc.send({ id, op, args });
      }),
    cpuMs: () => processCpuMs(proc.pid!),
    async stop() {
      if (proc.exitCode !== null) return;
      proc.disconnect();
      await Promise.race([exited, sleep(10_000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/**
 * Each account's channel usernames, as fleet-seed.ts names its peers (@f<user>a<account>x<i>,
 * the account numbered by its label within its owner), in the order of fleet.accountIds.
 */
export async function channelNames(db: AppDatabase, fleet: Fleet, targets: number): Promise<string[][]> {
  const labels = await withClient(db.adminUrl, async (c) => {
    const { rows } = await c.query<{ id: string; label: string }>(
      'select id, label from public.telegram_accounts where id = any($1::uuid[])',
      [fleet.accountIds],
    );
    return new Map(rows.map((r) => [r.id, Number(r.label.replace(/^fleet /, ''))]));
  });
  return fleet.owners.flatMap((o, u) =>
    o.accountIds.map((id) => Array.from({ length: targets }, (_, i) => `f${u}a${labels.get(id)}x${i + 1}`))
  );
}

/** The worker in gramjs mode against the stand-in, its sessions handed over in a file (real-worker.ts). */
export async function realWorker(
  db: AppDatabase,
  name: string,
  accountIds: string[],
  sessions: string[],
  entry: StandInEntry,
  servingMs: number,
): Promise<WorkerProcess> {
  const file = join(tmpdir(), `tg-bench-accounts-${process.pid}-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(accountIds.map((accountId, i) => ({ accountId, session: sessions[i] }))), { mode: 0o600 });
  return await fleetWorker(db, name, accountIds, {
    entry: fileURLToPath(new URL('./real-worker.ts', import.meta.url)),
    servingMs,
    env: {
      TELEGRAM_MODE: 'gramjs',
      TELEGRAM_API_ID: String(entry.apiId),
      TELEGRAM_API_HASH: entry.apiHash,
      TELEGRAM_SERVER: JSON.stringify({ dcs: entry.dcs, publicKeyPem: entry.publicKeyPem }),
      BENCH_TELEGRAM_ACCOUNTS_FILE: file,
    },
  });
}

export interface RealPointResult {
  accounts: number;
  campaignsPerAccount: number;
  targets: number;
  ratePerMinute: number;
  deliveries: number;
  theoreticalSeconds: number;
  /** What fleet.ts measures of a point (null when it could not start). */
  measured: Measured | null;
  /** Messages the stand-in's channels hold at the end: what really went through MTProto. */
  posted: number | null;
  standInCpuMsPerDelivery: number | null;
  /** Where the time beyond the theoretical goes: the start → the first send, and the rate between the 10th and 90th percentile send. */
  timeline: Timeline | null;
  load: [number, number];
  error?: string;
}

interface Timeline {
  firstSendSeconds: number;
  steadyPerSecond: number;
}

/** From the deliveries' sent_at (the outcome's commit) against the campaigns' start. */
async function timeline(db: AppDatabase, fleet: Fleet): Promise<Timeline | null> {
  return await withClient(db.adminUrl, async (c) => {
    const { rows } = await c.query<{ start: number; first: number; p10: number; p90: number; n: number }>(
      `select extract(epoch from (select min(started_at) from public.campaigns where id = any($1::uuid[]))) * 1000 as start,
              extract(epoch from min(sent_at)) * 1000 as first, count(*)::int as n,
              extract(epoch from percentile_disc(0.1) within group (order by sent_at)) * 1000 as p10,
              extract(epoch from percentile_disc(0.9) within group (order by sent_at)) * 1000 as p90
       from public.deliveries where campaign_id = any($1::uuid[]) and sent_at is not null`,
      [fleet.campaignIds],
    );
    const r = rows[0];
    if (!r || r.first === null || r.p90 <= r.p10) return null;
    return {
      firstSendSeconds: round((Number(r.first) - Number(r.start)) / 1000, 2),
      steadyPerSecond: round((0.8 * r.n) / ((Number(r.p90) - Number(r.p10)) / 1000), 1),
    };
  });
}

/** A real-client point's fresh database and stand-in; `started` hands over its worker, stopped afterwards. */
export interface RealContext {
  db: AppDatabase;
  standIn: StandInProcess;
  started(w: WorkerProcess): WorkerProcess;
}

/**
 * `body` on a fresh database and stand-in, with the load average at its start and end; when it
 * throws, `base` and the error's first line. The worker, the stand-in and the database go afterwards.
 */
export async function onFreshStandIn<T extends { load: [number, number]; error?: string }>(
  cluster: BenchCluster,
  dbName: string,
  base: Omit<T, 'load' | 'error'>,
  body: (ctx: RealContext) => Promise<Omit<T, 'load'>>,
): Promise<T> {
  const loadStart = load1();
  const db = await cluster.createDatabase(dbName);
  const standIn = await startStandInProcess();
  let worker: WorkerProcess | undefined;
  try {
    const r = await body({ db, standIn, started: (w) => (worker = w) });
    return { ...r, load: [loadStart, load1()] } as T;
  } catch (err) {
    return { ...base, load: [loadStart, load1()], error: (err as Error).message.split('\n')[0] } as T;
  } finally {
    await worker?.stop(10_000).catch(() => {});
    await standIn.stop();
    await db.drop().catch(() => {});
  }
}

/** One real-client point on a fresh database and a fresh stand-in. */
export async function realFleetPoint(
  cluster: BenchCluster,
  point: FleetPoint,
  log: (m: string) => void,
): Promise<RealPointResult> {
  const theoreticalSeconds = (point.campaignsPerAccount * point.targets) / (point.ratePerMinute / 60);
  const deliveries = point.accounts * point.campaignsPerAccount * point.targets;
  const base = {
    ...point,
    deliveries,
    theoreticalSeconds,
    measured: null,
    posted: null,
    standInCpuMsPerDelivery: null,
    timeline: null,
  };
  return await onFreshStandIn<RealPointResult>(cluster, 'tg_fleet_real', base, async ({ db, standIn, started }) => {
    const fleet = await seedFleet(db, point);
    const sessions = await standIn.call<string[]>('seed', { channels: await channelNames(db, fleet, point.targets) });
    log(`  real: ${sessions.length} seeded sessions, ${deliveries} channels in the stand-in`);
    const name = `fleet-real-${point.accounts}x${point.campaignsPerAccount}`;
    const worker = started(await realWorker(db, name, fleet.accountIds, sessions, standIn.entry, 60_000));
    const died = watchExit(worker);
    const s0 = standIn.cpuMs();
    const measured = await measure(cluster, db, fleet, worker, theoreticalSeconds);
    const s1 = standIn.cpuMs();
    const posted = await standIn.call<number>('posted');
    const perDelivery = s0 !== undefined && s1 !== undefined ? round((s1 - s0) / Math.max(measured.delivered, 1), 3) : null;
    const error = died();
    return {
      ...base,
      measured,
      posted,
      standInCpuMsPerDelivery: perDelivery,
      timeline: await timeline(db, fleet),
      ...(error ? { error } : {}),
    };
  });
}

export interface RealIdleResult {
  accounts: number;
  seconds: number;
  warmupSeconds: number;
  /** From the worker's spawn until /health showed every account serving (null: not within the bound). */
  startSeconds: number | null;
  /** Client connections open at the stand-in during the window. */
  connections: number | null;
  /** Worker and stand-in CPU over the window, percent of one core. */
  cpuPercent: number | null;
  standInCpuPercent: number | null;
  /** Worker resident set at the window's end, and its peak. */
  rssMb: number | null;
  peakRssMb: number | null;
  load: [number, number];
  error?: string;
}

/** `accounts` connected GramJS clients with nothing to send: the worker's CPU and RSS over a window. */
export async function realIdle(
  cluster: BenchCluster,
  accounts: number,
  window: { seconds: number; warmupSeconds: number },
  log: (m: string) => void,
): Promise<RealIdleResult> {
  const empty = {
    startSeconds: null,
    connections: null,
    cpuPercent: null,
    standInCpuPercent: null,
    rssMb: null,
    peakRssMb: null,
  };
  const base = { accounts, ...window };
  const loadStart = load1();
  const db = await cluster.createDatabase('tg_idle_real');
  const standIn = await startStandInProcess();
  let worker: WorkerProcess | undefined;
  try {
    const fleet = await seedFleet(db, { accounts, campaignsPerAccount: 0, targets: 0, ratePerMinute: 60 });
    const sessions = await standIn.call<string[]>('seed', { channels: fleet.accountIds.map(() => []) });
    const t = Date.now();
    worker = await realWorker(db, `idle-real-${accounts}`, fleet.accountIds, sessions, standIn.entry, 300_000);
    const startSeconds = (await serving(worker.port)) ? round((Date.now() - t) / 1000, 1) : null;
    log(
      `  idle real: ${accounts} accounts serving after ${startSeconds ?? 'more than 300'} s; warm-up ${window.warmupSeconds} s`,
    );
    const died = watchExit(worker);
    await sleep(window.warmupSeconds * 1000);
    const [w0, s0, t0] = [worker.cpuMs(), standIn.cpuMs(), now()];
    await sleep(window.seconds * 1000);
    const [w1, s1, ms] = [worker.cpuMs(), standIn.cpuMs(), now() - t0];
    const pct = (a?: number, b?: number) => (a !== undefined && b !== undefined ? round((100 * (b - a)) / ms, 2) : null);
    const error = died();
    return {
      ...base,
      startSeconds,
      connections: await standIn.call<number>('connections'),
      cpuPercent: error ? null : pct(w0, w1),
      standInCpuPercent: pct(s0, s1),
      rssMb: peakRssMb(worker.pid, 'VmRSS'),
      peakRssMb: peakRssMb(worker.pid),
      load: [loadStart, load1()],
      ...(error ? { error } : {}),
    };
  } catch (err) {
    return { ...base, ...empty, load: [loadStart, load1()], error: (err as Error).message.split('\n')[0] };
  } finally {
    await worker?.stop(15_000).catch(() => {});
    await standIn.stop();
    await db.drop().catch(() => {});
  }
}

export interface RealFleetSizes {
  points: FleetPoint[];
  /** Idle points (accounts); with two or more, the RSS per account is also given as the slope between the ends. */
  idle: number[];
  idleWindow: { seconds: number; warmupSeconds: number };
}

/** `npm run bench`: 10 accounts at 20 msg/s, 200 targets each; 10 and 1,000 idle accounts (the smaller for the slope). */
export const FULL_REAL: RealFleetSizes = {
  points: [{ accounts: 10, campaignsPerAccount: 1, targets: 200, ratePerMinute: 1200 }],
  idle: [10, 1000],
  idleWindow: { seconds: 30, warmupSeconds: 30 },
};

/** `npm test`'s short bench runs no real-client point (a GramJS worker's start alone would double its time). */
export const SHORT_REAL: RealFleetSizes = { points: [], idle: [], idleWindow: FULL_REAL.idleWindow };

export interface RealFleetRun {
  points: RealPointResult[];
  idle: RealIdleResult[];
}

export async function runRealFleet(
  cluster: BenchCluster,
  sizes: RealFleetSizes,
  log: (m: string) => void,
): Promise<RealFleetRun> {
  const points: RealPointResult[] = [];
  for (const p of sizes.points) {
    log(
      `fleet on real clients: ${p.accounts} GramJS accounts × ${p.campaignsPerAccount} × ${p.targets} at ${p.ratePerMinute}/min`,
    );
    points.push(await realFleetPoint(cluster, p, log));
    log(`fleet on real clients: ${pointRow(points.at(-1)!).value}`);
  }
  const idle: RealIdleResult[] = [];
  for (const n of sizes.idle) {
    log(`idle on real clients: ${n} connected GramJS accounts, ${sizes.idleWindow.seconds} s window`);
    idle.push(await realIdle(cluster, n, sizes.idleWindow, log));
    log(`idle on real clients: ${idleRow(idle.at(-1)!).value}`);
  }
  return { points, idle };
}

/** kB of worker RSS per idle account: the slope between the smallest and largest idle points. */
function rssSlopeKb(idle: RealIdleResult[]): number | null {
  const ok = idle.filter((r) => r.rssMb !== null && !r.error).sort((a, b) => a.accounts - b.accounts);
  const [lo, hi] = [ok[0], ok.at(-1)];
  return lo && hi && hi.accounts > lo.accounts ? round(((hi.rssMb! - lo.rssMb!) * 1024) / (hi.accounts - lo.accounts), 1) : null;
}

function pointRow(p: RealPointResult) {
  const m = p.measured;
  const done = !m
    ? 'not run'
    : m.finished
    ? `${m.seconds} s / ${p.theoreticalSeconds} s = ×${m.ratio}`
    : `UNFINISHED after ${m.seconds} s: ${m.delivered}/${p.deliveries}`;
  const t = p.timeline ? ` (first send ${p.timeline.firstSendSeconds} s, then ${p.timeline.steadyPerSecond}/s)` : '';
  return {
    metric: `${p.accounts} GramJS acc × ${p.campaignsPerAccount} × ${p.targets} at ${p.ratePerMinute}/min`,
    value:
      `${done}${t}, posted ${p.posted ?? 'n/a'}/${p.deliveries}, CPU/delivery worker ${m?.workerCpuMsPerDelivery ?? 'n/a'} ms, ` +
      `stand-in ${p.standInCpuMsPerDelivery ?? 'n/a'} ms, db ${m?.dbCpuMsPerDelivery ?? 'n/a'} ms, worker rss ${
        m?.rssMb ?? 'n/a'
      } MB` +
      `${m?.failed ? `, ${m.failed} failed` : ''}${p.error ? `, error: ${p.error}` : ''}`,
    target: `load ${p.load[0]}→${p.load[1]}`,
    ok: !!m?.finished && p.posted === p.deliveries && m.failed === 0 && (m.ratio ?? Infinity) <= 1.05,
  };
}

function idleRow(r: RealIdleResult) {
  const perAccount = r.rssMb === null ? 'n/a' : round((r.rssMb * 1024) / r.accounts, 1);
  return {
    metric: `${r.accounts} idle GramJS accounts, ${r.seconds} s`,
    value:
      `worker ${r.cpuPercent ?? 'n/a'} % of a core, stand-in ${r.standInCpuPercent ?? 'n/a'} %, rss ${r.rssMb ?? 'n/a'} MB ` +
      `(${perAccount} kB/account), ${r.connections ?? 'n/a'} connections, serving after ${r.startSeconds ?? 'n/a'} s` +
      `${r.error ? `, error: ${r.error}` : ''}`,
    target: `load ${r.load[0]}→${r.load[1]}`,
    ok: !r.error && r.startSeconds !== null && (r.connections ?? 0) >= r.accounts,
  };
}

export function realFleetTable(r: RealFleetRun): string {
  const rows = [...r.points.map(pointRow), ...r.idle.map(idleRow)];
  const slope = rssSlopeKb(r.idle);
  if (slope !== null) {
    rows.push({ metric: 'worker RSS per idle GramJS account (slope)', value: `${slope} kB`, target: '', ok: true });
  }
  return table(rows, ['fleet point on real clients (MTProto stand-in)', 'completion, CPU/delivery, RSS', 'load average']);
}

/** The `fleetReal` entry of the JSON summary. */
export function realFleetSummary(r: RealFleetRun) {
  return {
    fleetReal: {
      points: r.points.map((p) => ({
        accounts: p.accounts,
        ratio: p.measured?.ratio ?? null,
        posted: p.posted,
        workerCpuMsPerDelivery: p.measured?.workerCpuMsPerDelivery ?? null,
        standInCpuMsPerDelivery: p.standInCpuMsPerDelivery,
        timeline: p.timeline,
        load: p.load,
      })),
      idle: r.idle.map((i) => ({ accounts: i.accounts, cpuPercent: i.cpuPercent, rssMb: i.rssMb, load: i.load })),
      rssKbPerIdleAccount: rssSlopeKb(r.idle),
    },
  };
}

/** "10,1000" or "0": the --idle-real list. */
export function parseIdle(spec: string): number[] {
  return spec.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`--idle-real: "${v}" is not a whole number of accounts`);
    return n;
  }).filter((n) => n > 0);
}
