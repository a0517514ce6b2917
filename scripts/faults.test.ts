// The fault suite's short scenarios inside `npm test`: each kind once, small, on a Postgres of
// its own (the restart scenario must not disturb the shared test cluster). Every scenario must
// end with no lost and no duplicated message and counters equal to the delivery rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchCluster, startOwnCluster } from './bench/cluster.ts';
import { runScenario, type ScenarioSpec } from './faults/harness.ts';
import { scenarios, SHORT } from './faults/scenarios.ts';

const specs = scenarios(SHORT, 'faults-test/logs', { canRestart: !process.env.DATABASE_URL });

describe('fault scenarios (short)', () => {
  let cluster: BenchCluster;
  beforeAll(async () => {
    cluster = await startOwnCluster({ fast: true });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const check = (spec: ScenarioSpec) => async () => {
    const r = await runScenario(cluster, spec);
    const detail = `${spec.name}: ${r.notes.join('; ')}`;
    expect(r.deliveries, detail).toBe(spec.size.targets * (spec.size.accounts ?? 1));
    expect({ lost: r.lost, duplicated: r.duplicated, counters: r.counterMismatches, states: r.stateMismatches }, detail)
      .toEqual({ lost: 0, duplicated: 0, counters: 0, states: 0 });
    expect(r.ok, detail).toBe(true);
  };

  // The Postgres restart and crash alone first (they cut every connection of the cluster), then
  // the rest side by side: each has its own database, accounts and worker processes, and mostly
  // waits on timeouts.
  for (const spec of specs.filter((s) => s.exclusive)) it(spec.name, check(spec), 60_000);
  describe.concurrent('in parallel', () => {
    for (const spec of specs.filter((s) => !s.exclusive)) it(spec.name, check(spec), 75_000);
  });
});
