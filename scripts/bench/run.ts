// One benchmark run: the phases in sequence, then the summary (README, "Benchmarks and fault suite"), the table
// and the chart. Shared by `npm run bench` and scripts/bench.test.ts.
import { cpus } from 'node:os';
import type { BenchCluster } from './cluster.ts';
import { ceiling, type CeilingResult, pacing, type PacingResult, pickup, type PickupResult, type Sizes } from './phases.ts';
import { measureRealtimeLatency, type RealtimeLatency } from './realtime-latency.ts';
import { round, summarize } from './stats.ts';
import { type Row, svgChart, table } from './report.ts';

/** The machine-readable result (the last stdout line of `npm run bench -- --json`). */
export interface BenchSummary {
  ceilingPerSecond: number;
  pacingRatio: number;
  pickupP50Ms: number;
  progressP95Ms: number;
  fairnessSpread: number;
  /** A send's commit → the progress event in a supabase-js client (Realtime stand-in). */
  realtimeP50Ms: number;
  realtimeP95Ms: number;
}

export interface BenchRun {
  summary: BenchSummary;
  ceiling: CeilingResult;
  pacing: PacingResult;
  pickup: PickupResult;
  realtime: RealtimeLatency;
  machine: { cpus: number; model: string; node: string; platform: string };
  sizes: Sizes;
}

export async function runBench(cluster: BenchCluster, sizes: Sizes, log: (msg: string) => void = () => {}): Promise<BenchRun> {
  log(`ceiling: ${sizes.ceilingDeliveries} deliveries, no pacing`);
  const c = await ceiling(cluster, sizes.ceilingDeliveries);
  log(`ceiling: ${c.perSecond.toFixed(0)}/s`);
  log(`pickup: ${sizes.pickupTrials} trials`);
  const p = await pickup(cluster, sizes.pickupTrials);
  log(`pickup: p50 ${p.p50Ms.toFixed(1)} ms`);
  const total = sizes.pacingCampaigns * sizes.pacingTargets;
  log(
    `pacing: ${sizes.pacingCampaigns} × ${sizes.pacingTargets} at ${sizes.pacingPerSecond}/s (≥ ${
      (total / sizes.pacingPerSecond).toFixed(0)
    } s)`,
  );
  const g = await pacing(cluster, sizes);
  log(`pacing: ${g.seconds.toFixed(2)} s, ratio ${g.ratio.toFixed(3)}`);
  const rt = await realtimeLatency(cluster, sizes.pickupTrials);
  log(`realtime: p50 ${rt.p50Ms.toFixed(1)} ms, p95 ${rt.p95Ms.toFixed(1)} ms at a supabase-js subscriber`);
  const cpu = cpus();
  return {
    summary: {
      ceilingPerSecond: round(c.perSecond),
      pacingRatio: round(g.ratio, 4),
      pickupP50Ms: round(p.p50Ms, 1),
      progressP95Ms: round(g.progressP95Ms, 1),
      fairnessSpread: round(g.fairnessSpread, 4),
      realtimeP50Ms: round(rt.p50Ms, 1),
      realtimeP95Ms: round(rt.p95Ms, 1),
    },
    ceiling: c,
    pacing: g,
    pickup: p,
    realtime: rt,
    machine: {
      cpus: cpu.length,
      model: cpu[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
    },
    sizes,
  };
}

/** Progress latency at a real supabase-js subscriber, on a database of its own. */
async function realtimeLatency(cluster: BenchCluster, samples: number): Promise<RealtimeLatency> {
  const db = await cluster.createDatabase('tg_bench_rt');
  try {
    return await measureRealtimeLatency({ dbUrl: db.url, adminUrl: db.adminUrl, samples });
  } finally {
    await db.drop();
  }
}

export function benchTable(r: BenchRun): string {
  const f = (v: number | null, d = 0) => (v === null || Number.isNaN(v) ? 'n/a' : v.toFixed(d));
  const pk = summarize(r.pickup.latenciesMs);
  const rows: Row[] = [
    {
      metric: `pipeline ceiling (${r.ceiling.deliveries} deliveries)`,
      value: `${f(r.ceiling.perSecond)} /s`,
      target: '>= 1000 /s',
      ok: r.ceiling.perSecond >= 1000,
    },
    { metric: 'ceiling, first campaign (peers resolved)', value: `${f(r.ceiling.cold.perSecond)} /s` },
    {
      metric: 'peer resolutions: first campaign / second',
      value: `${r.ceiling.cold.resolutions} / ${r.ceiling.resolutions}`,
      target: `${r.ceiling.deliveries} / 0`,
      ok: r.ceiling.cold.resolutions === r.ceiling.deliveries && r.ceiling.resolutions === 0,
    },
    { metric: 'CPU per delivery: worker', value: `${f(r.ceiling.workerCpuMsPerDelivery, 3)} ms` },
    { metric: 'CPU per delivery: postgres', value: `${f(r.ceiling.postgresCpuMsPerDelivery, 3)} ms` },
    {
      metric: `pacing (${r.pacing.campaigns} × ${r.pacing.targets / r.pacing.campaigns} at ${r.pacing.perSecond}/s)`,
      value: `${f(r.pacing.seconds, 2)} s / ${f(r.pacing.theoreticalSeconds, 2)} s = ${f(r.pacing.ratio, 4)}`,
      target: '<= 1.02',
      ok: r.pacing.ratio <= 1.02,
    },
    // 0 = the campaigns finish together; they start one after another, which weighs most in short runs.
    {
      metric: 'fairness spread (max-min finish)/total',
      value: `${f(r.pacing.fairnessSpread, 4)} (${f(r.pacing.fairnessSpread * r.pacing.seconds, 2)} s)`,
      target: '0 = all finish together',
    },
    {
      metric: `pickup start -> first send (${pk.n} trials)`,
      value: `p50 ${f(pk.p50, 1)} ms, p95 ${f(pk.p95, 1)} ms, max ${f(pk.max, 1)} ms`,
      target: 'p50 < 100 ms',
      ok: pk.p50 < 100,
    },
    {
      metric: `progress send -> visible counter (${r.pacing.progressSamples})`,
      value: `p50 ${f(r.pacing.progressP50Ms, 1)} ms, p95 ${f(r.pacing.progressP95Ms, 1)} ms`,
      target: 'p95 < 1000 ms',
      ok: r.pacing.progressP95Ms < 1000,
    },
    {
      metric: `progress commit -> event at a supabase-js subscriber (${r.realtime.samples.length})`,
      value: `p50 ${f(r.realtime.p50Ms, 1)} ms, p95 ${f(r.realtime.p95Ms, 1)} ms`,
      target: 'p95 < 1000 ms',
      ok: r.realtime.p95Ms < 1000,
    },
    {
      metric: 'counters vs delivery rows',
      value: `${r.ceiling.counterMismatches.length + r.pacing.counterMismatches.length} mismatches`,
      target: '0',
      ok: r.ceiling.counterMismatches.length + r.pacing.counterMismatches.length === 0,
    },
  ];
  return table(rows);
}

export function benchChart(r: BenchRun): string {
  return svgChart([
    {
      title: `Pipeline ceiling: ${r.ceiling.deliveries} deliveries, no pacing (${r.summary.ceilingPerSecond}/s average)`,
      xLabel: 'seconds since start',
      yLabel: 'deliveries / s',
      series: [
        { name: 'known channels (250 ms windows)', points: r.ceiling.series },
        { name: 'first campaign, resolving peers', points: r.ceiling.cold.series },
      ],
    },
    {
      title: `Pacing: ${r.pacing.campaigns} campaigns on one account at ${r.pacing.perSecond}/s (ratio ${r.summary.pacingRatio})`,
      xLabel: 'seconds since start',
      yLabel: 'deliveries / s',
      series: r.pacing.series,
    },
  ]);
}
