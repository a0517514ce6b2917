// The benchmark's short run inside `npm test`: the CLI end to end (own Postgres, real worker,
// simulator), checking the output contract and that the figures are sane — not the timing
// targets, which a busy test machine cannot promise; the connection bound it can.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './lib/migrate.ts';
import { RESULTS_ROOT } from './bench/report.ts';
import { NODE } from './bench/worker.ts';

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // DATABASE_URL would point the run at a shared cluster; this run brings its own.
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const child = spawn(NODE, [join(REPO_ROOT, 'scripts/bench.ts'), ...args], { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Timed {
  accounts: number;
  p50Seconds: number;
  p95Seconds: number;
  maxSeconds: number;
}
interface SharedSummary {
  workers: number;
  accounts: number;
  perWorker: { min: number; max: number; ratio: number };
  killResume: Timed;
  termHandOver: Timed;
  termExitSeconds: number;
  lost: number;
  duplicated: number;
  violations: number;
}

/**
 * The short shared point: 3 workers, 6 accounts, one SIGKILLed and one SIGTERMed. Properties
 * only (each worker at its fair share, figures ordered and matching the raw samples, nothing lost
 * or doubled); the product's 15 s and 5 s bounds are the full run's and the fault suite's.
 */
function expectSharedFleet(s: SharedSummary, raw: Record<string, unknown>, last: string) {
  expect(Object.keys(s).sort(), last).toEqual([
    'accounts',
    'duplicated',
    'killResume',
    'lost',
    'perWorker',
    'termExitSeconds',
    'termHandOver',
    'violations',
    'workers',
  ]);
  expect([s.workers, s.accounts]).toEqual([3, 6]);
  expect(s.perWorker).toEqual({ min: 2, max: 2, ratio: 1 });
  expect(raw.perWorker).toEqual([2, 2, 2]);
  // The killed worker held 2 accounts, the survivors then 3 each.
  expect(raw.afterKill).toEqual([3, 3]);
  for (const [t, samples] of [[s.killResume, raw.killResumeMs], [s.termHandOver, raw.termHandOverMs]] as const) {
    expect(t.accounts, last).toBeGreaterThan(0);
    expect(samples).toHaveLength(t.accounts);
    expect(0 < t.p50Seconds && t.p50Seconds <= t.p95Seconds && t.p95Seconds <= t.maxSeconds, last).toBe(true);
    expect(Math.max(...(samples as number[])) / 1000).toBeCloseTo(t.maxSeconds, 1);
  }
  expect(s.termExitSeconds).toBeGreaterThan(0);
  expect([s.lost, s.duplicated]).toEqual([0, 0]);
  expect(raw.deliveries).toBe(6 * 24);
}

describe('npm run bench (short)', () => {
  it('prints the summary JSON last, fleet included, and writes results and a chart', async () => {
    const r = await runCli(['--short', '--json', '--out', 'bench-test'], 380_000);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const last = r.stdout.trim().split('\n').at(-1)!;
    const { fleet, idleCpuPercent1000, sharedFleet, ...summary } = JSON.parse(last) as Record<string, number> & {
      fleet: Array<Record<string, number | null>>;
      idleCpuPercent1000: number | null;
      sharedFleet: SharedSummary;
    };
    expect(Object.keys(summary).sort()).toEqual([
      'ceilingPerSecond',
      'fairnessSpread',
      'pacingRatio',
      'pickupP50Ms',
      'progressP95Ms',
      'realtimeP50Ms',
      'realtimeP95Ms',
    ]);
    for (const v of Object.values(summary)) expect(Number.isFinite(v), last).toBe(true);
    expect(summary.ceilingPerSecond).toBeGreaterThan(10);
    // 3 × 20 targets at 30/s: at least the theoretical minimum (one interval of slack for the
    // first slot), and not absurdly slow even on a loaded machine.
    expect(summary.pacingRatio).toBeGreaterThan(0.9);
    expect(summary.pacingRatio).toBeLessThan(3);
    expect(summary.fairnessSpread).toBeGreaterThanOrEqual(0);
    expect(summary.fairnessSpread).toBeLessThan(1);
    expect(summary.pickupP50Ms).toBeGreaterThanOrEqual(0);
    expect(summary.pickupP50Ms).toBeLessThan(5000);
    expect(summary.progressP95Ms).toBeGreaterThanOrEqual(0);
    expect(summary.progressP95Ms).toBeLessThan(10_000);
    // Through the Realtime stand-in to a real supabase-js client: the product's 1 s promise.
    const { realtimeP50Ms, realtimeP95Ms } = summary as Record<string, number>;
    expect(realtimeP50Ms).toBeGreaterThanOrEqual(0);
    expect(realtimeP50Ms).toBeLessThanOrEqual(realtimeP95Ms!);
    expect(realtimeP95Ms).toBeLessThan(1000);

    // The short fleet: 1 and 10 accounts × 200 targets at 20/s with 50–150 ms round trips.
    expect(fleet.map((p) => [p.accounts, p.campaignsPerAccount])).toEqual([[1, 1], [10, 1]]);
    for (const p of fleet) {
      expect(Object.keys(p).sort(), last).toEqual([
        'accounts',
        'campaignsPerAccount',
        'dbCpuMsPerDelivery',
        'deliveriesPerSecond',
        'peakConnections',
        'ratio',
        'rssMb',
        'workerCpuMsPerDelivery',
      ]);
      // Never faster than the pace; finished, even on a busy machine.
      expect(p.ratio, last).toBeGreaterThan(0.95);
      expect(p.ratio, last).toBeLessThan(3);
      expect(p.deliveriesPerSecond).toBeGreaterThan(0);
      // Connections bounded by a constant, whatever the number of accounts.
      expect(p.peakConnections, last).toBeGreaterThan(0);
      expect(p.peakConnections, last).toBeLessThanOrEqual(10);
      for (const k of ['dbCpuMsPerDelivery', 'workerCpuMsPerDelivery', 'rssMb'] as const) expect(p[k], k).toBeGreaterThan(0);
    }
    // Only a 1,000-account idle run fills idleCpuPercent1000; the short run idles 200 accounts.
    expect(idleCpuPercent1000).toBeNull();

    const dir = join(RESULTS_ROOT, 'bench-test');
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(results.summary).toEqual(summary);
    expect(results.ceiling.counterMismatches).toEqual([]);
    // Each channel resolved once by the account (first campaign), never again (second).
    expect([results.ceiling.cold.resolutions, results.ceiling.resolutions]).toEqual([300, 0]);
    expect(results.pacing.counterMismatches).toEqual([]);
    expect(results.pickup.latenciesMs).toHaveLength(5);
    expect(results.fleet.points.map((p: { delivered: number; failed: number }) => [p.delivered, p.failed])).toEqual([[200, 0], [
      2000,
      0,
    ]]);
    expect(results.fleet.idle).toMatchObject({ accounts: 200 });
    expect(results.fleet.idle.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(results.fleet.idle.cpuPercent).toBeLessThan(20);
    expectSharedFleet(sharedFleet, results.shared, last);
    expect(existsSync(join(dir, 'throughput.svg'))).toBe(true);
    expect(readFileSync(join(dir, 'throughput.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  }, 390_000);

  // Opt-in from the short run above: a small edit-pace point of its own (about a minute).
  it('--edit-pace-only: 100 posts sent, edited and deleted, each post once at the stand-in', async () => {
    const r = await runCli(['--edit-pace-only', '--edit-pace', '100x3000', '--json', '--out', 'bench-test-edit'], 240_000);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const last = r.stdout.trim().split('\n').at(-1)!;
    const { editPace: e, ...rest } = JSON.parse(last);
    expect(rest, last).toEqual({});
    expect(Object.keys(e).sort()).toEqual(['delete', 'edit', 'load', 'perSecond', 'posted', 'targets']);
    expect([e.targets, e.perSecond, e.posted]).toEqual([100, 50, 100]);
    for (const a of [e.edit, e.delete]) {
      expect(Object.keys(a).sort(), last).toEqual(['idealSeconds', 'maxPerSecond', 'perPost', 'ratio', 'seconds']);
      expect(a.perPost, last).toEqual({ min: 1, max: 1 });
      expect(a.idealSeconds).toBeCloseTo(99 / 50, 2);
      // Never faster than the pace allows; the ×1.1 target is the full run's, not a loaded test box's.
      expect(a.ratio, last).toBeGreaterThan(0.95);
      expect(a.seconds / a.idealSeconds).toBeCloseTo(a.ratio, 2);
      // Calls arrive at the pace, give or take the network's jitter.
      expect(a.maxPerSecond, last).toBeGreaterThan(0);
      expect(a.maxPerSecond, last).toBeLessThanOrEqual(60);
    }
    const raw = JSON.parse(readFileSync(join(RESULTS_ROOT, 'bench-test-edit', 'results.json'), 'utf8')).editPace;
    expect([raw.edit.done, raw.edit.failed, raw.delete.done, raw.delete.failed]).toEqual([100, 0, 100, 0]);
  }, 250_000);

  it('prints its usage with --help and names an unknown flag', async () => {
    const help = await runCli(['--help'], 20_000);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run bench/);
    for (
      const flag of [
        '--short',
        '--json',
        '--fleet-only',
        '--fleet ',
        '--idle ',
        '--fleet-shared ',
        '--edit-pace ',
        '--edit-pace-only',
      ]
    ) {
      expect(help.stdout).toContain(flag);
    }
    const bad = await runCli(['--fleet-only', '--fast'], 20_000);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown flag --fast');
  }, 45_000);
});
