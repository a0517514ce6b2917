// The fleet benchmark's sizes, its run over the points and the idle check, and its output: a
// table for people and the `fleet` / `idleCpuPercent1000` keys of the JSON summary.
import type { BenchCluster } from './cluster.ts';
import { type FleetPoint, type FleetResult, idleCost, type IdleResult, runFleetPoint } from './fleet.ts';
import { type Row, table } from './report.ts';

export interface FleetSizes {
  points: FleetPoint[];
  /** The idle check: accounts, the measured window and the warm-up before it (seconds). */
  idle: { accounts: number; seconds: number; warmupSeconds: number };
}

const fast = (accounts: number, campaignsPerAccount = 1): FleetPoint => ({
  accounts,
  campaignsPerAccount,
  targets: 200,
  ratePerMinute: 1200,
});

/** The README's fleet table: 20 msg/s per account at N = 1..100 (1 or 3 campaigns each), and 1,000 slow accounts. */
export const FULL_FLEET: FleetSizes = {
  // One account on a machine whose other core is busy: the pace must hold there too.
  points: [fast(1), { ...fast(1), busyCores: 1 }, fast(10), fast(50), fast(100), fast(50, 3), fast(100, 3), {
    accounts: 1000,
    campaignsPerAccount: 1,
    targets: 20,
    ratePerMinute: 60,
  }],
  idle: { accounts: 1000, seconds: 10, warmupSeconds: 20 },
};

/** Inside `npm test` (about a minute): two small points and a 200-account idle check. */
export const SHORT_FLEET: FleetSizes = {
  points: [fast(1), fast(10)],
  idle: { accounts: 200, seconds: 5, warmupSeconds: 5 },
};

/** "10x1,50x3,1x1busy1" (accounts x campaigns per account, 200 targets at 20/s, optionally with
 * N other cores kept busy), or "none": the --fleet list. */
export function parsePoints(spec: string): FleetPoint[] {
  if (spec === 'none') return [];
  return spec.split(',').map((p) => {
    const m = /^(\d+)x(\d+)(?:busy(\d+))?$/.exec(p.trim());
    if (!m) throw new Error(`--fleet: "${p}" is not <accounts>x<campaigns per account>[busy<cores>], e.g. 50x1`);
    return { ...fast(Number(m[1]), Number(m[2])), ...(m[3] ? { busyCores: Number(m[3]) } : {}) };
  });
}

export interface FleetRun {
  points: FleetResult[];
  idle: IdleResult | null;
}

export async function runFleet(cluster: BenchCluster, sizes: FleetSizes, log: (m: string) => void = () => {}): Promise<FleetRun> {
  const points: FleetResult[] = [];
  for (const p of sizes.points) {
    log(`fleet: ${p.accounts} accounts × ${p.campaignsPerAccount} campaigns × ${p.targets} targets at ${p.ratePerMinute}/min`);
    const r = await runFleetPoint(cluster, p, log);
    log(`fleet: ${describe(r)}`);
    points.push(r);
  }
  let idle: IdleResult | null = null;
  if (sizes.idle.accounts > 0) {
    idle = await idleCost(cluster, sizes.idle.accounts, sizes.idle.seconds, log, sizes.idle.warmupSeconds);
    log(
      `idle: ${idle.accounts} accounts: worker ${idle.cpuPercent ?? 'n/a'} % of a core, postgres ${idle.dbCpuPercent ?? 'n/a'} %${
        idle.error ? ` (${idle.error})` : ''
      }`,
    );
  }
  return { points, idle };
}

function describe(r: FleetResult): string {
  const done = r.finished
    ? `${r.seconds} s / ${r.theoreticalSeconds} s = ×${r.ratio}`
    : `UNFINISHED after ${r.seconds} s: ${r.delivered} of ${r.deliveries}`;
  return `${r.accounts}×${r.campaignsPerAccount}${
    r.busyCores ? ` (${r.busyCores} core busy)` : ''
  }: ${done}, ${r.deliveriesPerSecond}/s (theory ${r.theoreticalPerSecond}), ` +
    `peak ${r.peakConnections} connections, db ${r.dbCpuMsPerDelivery ?? 'n/a'} ms and worker ${
      r.workerCpuMsPerDelivery ?? 'n/a'
    } ms CPU/delivery, ` +
    `rss ${r.rssMb ?? 'n/a'} MB, load ${r.load[0]}→${r.load[1]}${r.failed ? `, ${r.failed} failed` : ''}${
      r.error ? `, error: ${r.error}` : ''
    }`;
}

/** The fleet entries of the JSON summary (`npm run bench -- --json`, key `fleet`). */
export function fleetSummary(r: FleetRun) {
  return {
    fleet: r.points.map((p) => ({
      accounts: p.accounts,
      campaignsPerAccount: p.campaignsPerAccount,
      ratio: p.ratio,
      deliveriesPerSecond: p.deliveriesPerSecond,
      peakConnections: p.peakConnections,
      dbCpuMsPerDelivery: p.dbCpuMsPerDelivery,
      workerCpuMsPerDelivery: p.workerCpuMsPerDelivery,
      rssMb: p.rssMb,
    })),
    // Only a 1,000-account idle run fills it (the short run idles 200: see idle in results.json).
    idleCpuPercent1000: r.idle?.accounts === 1000 ? r.idle.cpuPercent : null,
  };
}

export function fleetTable(r: FleetRun): string {
  const rows: Row[] = r.points.map((p) => ({
    metric: `${p.accounts} acc × ${p.campaignsPerAccount} × ${p.targets} at ${p.ratePerMinute}/min${
      p.busyCores ? `, ${p.busyCores} core busy` : ''
    }`,
    value:
      `${
        p.finished ? `×${p.ratio?.toFixed(3)}` : `unfinished ${p.delivered}/${p.deliveries}`
      }, ${p.deliveriesPerSecond}/${p.theoreticalPerSecond} /s, ` +
      `${p.peakConnections} conn, db ${p.dbCpuMsPerDelivery ?? 'n/a'} ms, worker ${p.workerCpuMsPerDelivery ?? 'n/a'} ms, ${
        p.rssMb ?? 'n/a'
      } MB`,
    target: `load ${p.load[0]}`,
    ok: p.finished && p.ratio !== null && p.ratio <= 1.05 && p.peakConnections <= 10,
  }));
  if (r.idle) {
    rows.push({
      metric: `${r.idle.accounts} idle accounts, ${r.idle.seconds} s`,
      value: `worker ${r.idle.cpuPercent ?? 'n/a'} % of a core, postgres ${
        r.idle.dbCpuPercent ?? 'n/a'
      } %, ${r.idle.peakConnections} conn`,
      target: '< 2 %',
      ok: r.idle.cpuPercent !== null && r.idle.cpuPercent < 2,
    });
  }
  return table(rows, ['fleet point', 'completion, rate, connections, CPU/delivery, RSS', 'note']);
}
