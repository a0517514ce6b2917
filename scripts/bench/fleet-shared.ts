// The fleet benchmark's shared point: several worker processes serving the database's accounts
// (sessions stored sealed, no list of their own) with campaigns running, each a real GramJS
// client against the MTProto stand-in, through the fault harness (a database and a stand-in of
// its own, then the audit: lost, duplicated) and what faults/takeover-scenarios.ts measures:
// accounts per worker, seconds for a SIGKILLed worker's accounts to send again on the others,
// and a SIGTERMed worker's hand-over. The workers run with their default settings (polling,
// supervision, send timeout), not the fault suite's shortened ones.
import { runScenario, type ScenarioSpec } from '../faults/harness.ts';
import { balance, sharedFleet, type TakeoverSize, timeTakeover } from '../faults/takeover-scenarios.ts';
import type { BenchCluster } from './cluster.ts';
import { load1 } from './fleet.ts';
import { type Row, table } from './report.ts';
import { round, summarize } from './stats.ts';

export interface SharedPoint {
  workers: number;
  accounts: number;
  /** Each account's campaign: long enough for a kill, a replacement and a SIGTERM while it runs. */
  targets: number;
  ratePerSecond: number;
}

/** The bounds the product promises: a SIGKILLed worker's accounts resume within 15 s, a SIGTERMed one's within 5 s. */
const KILL_BOUND_MS = 15_000;
const TERM_BOUND_MS = 5_000;
const UNSET = undefined as unknown as string;
/** The fault suite's shortened worker settings, left out: the worker's defaults apply. */
const DEFAULT_WORKER_ENV = {
  SEND_TIMEOUT_MS: UNSET,
  RETRY_BASE_SECONDS: UNSET,
  SUPERVISE_SECONDS: UNSET,
  POLLING_SECONDS: UNSET,
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
};

export interface SharedResult extends SharedPoint {
  /** Accounts per worker while the campaigns run, most first; then on the survivors of the kill. */
  perWorker: number[];
  afterKill: number[];
  /** Per account with deliveries left: the signal → its first send on another worker. */
  killResumeMs: number[];
  termHandOverMs: number[];
  /** SIGTERM → the worker's exit. */
  termExitMs: number | null;
  deliveries: number;
  lost: number;
  duplicated: number;
  /** Broken bounds and guarantees the harness found (uneven spread, late resumption, unsettled). */
  violations: string[];
  seconds: number;
  load: [number, number];
}

/** Spread, SIGKILL one worker (timed), replace it and spread again, SIGTERM another (timed). */
function sharedSpec(size: TakeoverSize, out: Partial<SharedResult>): ScenarioSpec {
  return {
    name: `bench: ${size.workers} workers share ${size.accounts} accounts`,
    size,
    logDir: 'bench/shared',
    async run(ctx) {
      const { sql, workers, spawn, sending } = await sharedFleet(ctx, size, 'shared', { workerEnv: DEFAULT_WORKER_ENV });
      out.perWorker = sending;
      out.killResumeMs = await timeTakeover(ctx, sql, workers[0]!, (w) => w.kill(), KILL_BOUND_MS);
      out.afterKill = await balance(ctx, sql, size.workers - 1, 30_000);
      workers[0] = await spawn('shared-0-again');
      await balance(ctx, sql, size.workers, 30_000);
      out.termHandOverMs = await timeTakeover(ctx, sql, workers[1]!, async (w) => {
        const t0 = Date.now();
        // Never cut short: a graceful stop may take SEND_TIMEOUT_MS (15 s) + 10 s + 5 s.
        await w.stop(40_000);
        out.termExitMs = Date.now() - t0;
      }, TERM_BOUND_MS);
    },
  };
}

export async function runSharedFleet(cluster: BenchCluster, point: SharedPoint, log: (m: string) => void): Promise<SharedResult> {
  const size: TakeoverSize = { ...point, settleTimeoutMs: 180_000, limitMs: KILL_BOUND_MS };
  log(
    `shared fleet: ${point.workers} GramJS workers share ${point.accounts} accounts × ${size.targets} at ${size.ratePerSecond}/s`,
  );
  const load = load1();
  const out: Partial<SharedResult> = {};
  const r = await runScenario({ app: cluster }, sharedSpec(size, out));
  const result: SharedResult = {
    ...point,
    perWorker: out.perWorker ?? [],
    afterKill: out.afterKill ?? [],
    killResumeMs: out.killResumeMs ?? [],
    termHandOverMs: out.termHandOverMs ?? [],
    termExitMs: out.termExitMs ?? null,
    deliveries: r.deliveries,
    lost: r.lost,
    duplicated: r.duplicated,
    violations: r.notes.filter((n) => n.startsWith('VIOLATION: ')).map((n) => n.slice('VIOLATION: '.length)),
    seconds: round(r.seconds, 1),
    load: [load, load1()],
  };
  log(`shared fleet: ${sharedRows(result).map((row) => `${row.metric}: ${row.value}`).join('; ')}`);
  return result;
}

const s = (ms: number) => `${round(ms / 1000, 2)} s`;

/** min, max and max/min of the accounts per worker (null without a spread). */
function spreadOf(perWorker: number[]) {
  if (!perWorker.length) return null;
  const [min, max] = [Math.min(...perWorker), Math.max(...perWorker)];
  return { min, max, ratio: min > 0 ? round(max / min, 3) : null };
}

function timed(ms: number[]) {
  if (!ms.length) return null;
  const t = summarize(ms);
  return {
    accounts: ms.length,
    p50Seconds: round(t.p50 / 1000, 2),
    p95Seconds: round(t.p95 / 1000, 2),
    maxSeconds: round(t.max / 1000, 2),
  };
}

function sharedRows(r: SharedResult): Row[] {
  const spread = spreadOf(r.perWorker);
  const [kill, term] = [timed(r.killResumeMs), timed(r.termHandOverMs)];
  const pct = (t: ReturnType<typeof timed>) =>
    t ? `p50 ${t.p50Seconds} s, p95 ${t.p95Seconds} s, max ${t.maxSeconds} s (${t.accounts} accounts)` : 'n/a';
  return [
    {
      metric: `${r.workers} workers × ${r.accounts} accounts: accounts per worker`,
      value: spread ? `${r.perWorker.join('/')}: min ${spread.min}, max ${spread.max}, max/min ${spread.ratio ?? 'n/a'}` : 'n/a',
      target: `${Math.floor(r.accounts / r.workers)}–${Math.ceil(r.accounts / r.workers)} each`,
      ok: !!spread && spread.min >= Math.floor(r.accounts / r.workers) && spread.max <= Math.ceil(r.accounts / r.workers),
    },
    {
      metric: 'one SIGKILLed: its accounts send again on the others after',
      value: `${pct(kill)}; then ${r.afterKill.join('/') || 'n/a'}`,
      target: `p95 ≤ ${s(KILL_BOUND_MS)}`,
      ok: !!kill && kill.p95Seconds * 1000 <= KILL_BOUND_MS,
    },
    {
      metric: 'one SIGTERMed: its accounts handed over after',
      value: `${pct(term)}; it exited after ${r.termExitMs === null ? 'n/a' : s(r.termExitMs)}`,
      target: `p95 ≤ ${s(TERM_BOUND_MS)}`,
      ok: !!term && term.p95Seconds * 1000 <= TERM_BOUND_MS,
    },
    {
      metric: 'audit of every target in the stand-in',
      value: `${r.deliveries} deliveries, lost ${r.lost}, duplicated ${r.duplicated}${
        r.violations.length ? `; ${r.violations.join('; ')}` : ''
      }`,
      target: `load ${r.load[0]}→${r.load[1]}`,
      ok: r.lost === 0 && r.duplicated === 0 && r.violations.length === 0,
    },
  ];
}

export const sharedFleetTable = (r: SharedResult): string =>
  table(sharedRows(r), ['shared fleet (GramJS workers, MTProto stand-in)', 'figures', 'bound']);

/** The `sharedFleet` entry of the JSON summary. */
export function sharedFleetSummary(r: SharedResult) {
  return {
    sharedFleet: {
      workers: r.workers,
      accounts: r.accounts,
      perWorker: spreadOf(r.perWorker),
      killResume: timed(r.killResumeMs),
      termHandOver: timed(r.termHandOverMs),
      termExitSeconds: r.termExitMs === null ? null : round(r.termExitMs / 1000, 2),
      lost: r.lost,
      duplicated: r.duplicated,
      violations: r.violations.length,
    },
  };
}

/** "3x90" (workers x accounts, the full run's campaigns) or "none": the --fleet-shared point. */
export function parseShared(spec: string): SharedPoint | null {
  if (spec === 'none') return null;
  const m = /^(\d+)x(\d+)$/.exec(spec.trim());
  if (!m || Number(m[1]) < 2 || Number(m[2]) < 1) {
    throw new Error(`--fleet-shared: "${spec}" is not <workers ≥ 2>x<accounts>, e.g. 3x90, or none`);
  }
  return { ...FULL_SHARED, workers: Number(m[1]), accounts: Number(m[2]) };
}

/** `npm run bench`: 3 workers, 90 accounts, 2 minutes of sending; `--short` (npm test): 6 accounts, 48 s. */
export const FULL_SHARED: SharedPoint = { workers: 3, accounts: 90, targets: 36, ratePerSecond: 0.3 };
export const SHORT_SHARED: SharedPoint = { workers: 3, accounts: 6, targets: 24, ratePerSecond: 0.5 };
