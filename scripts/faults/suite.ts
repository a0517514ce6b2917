// Runs the fault scenarios one after another (the Postgres restart would disturb any other)
// and sums them up; shared by `npm run faults` and scripts/faults.test.ts.
import type { BenchCluster } from '../bench/cluster.ts';
import { table, type Row } from '../bench/report.ts';
import { runScenario, type ScenarioResult } from './harness.ts';
import { scenarios, type FaultSizes } from './scenarios.ts';

export interface FaultSummary {
  scenarios: number;
  deliveries: number;
  lost: number;
  duplicated: number;
}

export interface SuiteResult {
  summary: FaultSummary;
  results: ScenarioResult[];
  ok: boolean;
}

export async function runFaultSuite(
  cluster: BenchCluster, sizes: FaultSizes,
  opts: { logDir: string; only?: string; log?: (msg: string) => void },
): Promise<SuiteResult> {
  const log = opts.log ?? (() => {});
  const specs = scenarios(sizes, opts.logDir, { canRestart: cluster.canRestart })
    .filter((s) => !opts.only || s.name.includes(opts.only));
  if (!cluster.canRestart) log('postgres restart scenario skipped: this cluster cannot be restarted');
  const results: ScenarioResult[] = [];
  for (const spec of specs) {
    log(`${spec.name}: ${spec.size.targets} targets at ${spec.size.ratePerSecond}/s`);
    const r = await runScenario(cluster, spec);
    log(`${spec.name}: ${r.ok ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(1)} s — ${r.notes.join('; ')}`);
    results.push(r);
  }
  const sum = (k: 'deliveries' | 'lost' | 'duplicated') => results.reduce((a, r) => a + r[k], 0);
  return {
    summary: { scenarios: results.length, deliveries: sum('deliveries'), lost: sum('lost'), duplicated: sum('duplicated') },
    results,
    ok: results.every((r) => r.ok),
  };
}

export function faultTable(results: readonly ScenarioResult[]): string {
  const rows: Row[] = results.map((r) => ({
    metric: r.name,
    value: `${r.deliveries} deliveries, lost ${r.lost}, dup ${r.duplicated}, counters off ${r.counterMismatches}, state off ${r.stateMismatches}`,
    target: `${r.seconds.toFixed(1)} s`,
    ok: r.ok,
  }));
  return table(rows, ['scenario', 'result', 'time']);
}
