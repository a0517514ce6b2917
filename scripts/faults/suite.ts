// Runs the fault scenarios and sums them up; shared by `npm run faults` and scripts/faults.test.ts.
// Those that restart Postgres run alone first (they would disturb any other); the rest one after
// another, or side by side with `parallel` (each has its own database, accounts and workers).
import { type Row, table } from '../bench/report.ts';
import { barrier, type FaultClusters, runScenario, type ScenarioResult, type ScenarioSpec } from './harness.ts';
import { type FaultSizes, scenarios } from './scenarios.ts';

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
  clusters: FaultClusters,
  sizes: FaultSizes,
  opts: { logDir: string; only?: string; parallel?: boolean; log?: (msg: string) => void },
): Promise<SuiteResult> {
  const log = opts.log ?? (() => {});
  const specs = scenarios(sizes, opts.logDir, { canRestart: clusters.app.canRestart })
    .filter((s) => !opts.only || s.name.includes(opts.only));
  if (!clusters.app.canRestart) log('postgres restart scenarios skipped: this cluster cannot be restarted');
  const run = async (spec: ScenarioSpec, setUpDone?: () => Promise<void>) => {
    log(`${spec.name}: ${spec.size.accounts ?? 1} account(s) × ${spec.size.targets} targets at ${spec.size.ratePerSecond}/s`);
    const r = await runScenario(clusters, spec, setUpDone);
    log(`${spec.name}: ${r.ok ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(1)} s — ${r.notes.join('; ')}`);
    return r;
  };
  const results: ScenarioResult[] = [];
  for (const spec of specs.filter((s) => s.exclusive)) results.push(await run(spec));
  const rest = specs.filter((s) => !s.exclusive);
  const setUpDone = barrier(rest.length);
  if (opts.parallel) results.push(...await Promise.all(rest.map((spec) => run(spec, setUpDone))));
  else for (const spec of rest) results.push(await run(spec));
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
    value:
      `${r.deliveries} deliveries, lost ${r.lost}, dup ${r.duplicated}, counters off ${r.counterMismatches}, state off ${r.stateMismatches}`,
    target: `${r.seconds.toFixed(1)} s`,
    ok: r.ok,
  }));
  return table(rows, ['scenario', 'result', 'time']);
}
