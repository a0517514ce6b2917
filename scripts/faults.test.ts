// The fault suite's short scenarios inside `npm test`: each kind once, small, on a Postgres of
// its own (the restart scenario must not disturb the shared test cluster), with the simulator's
// store in another that no scenario disturbs. Every scenario must end with no lost and no
// duplicated message and counters equal to the delivery rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnCluster } from './bench/cluster.ts';
import { type FaultClusters, reapWorkers, runScenario, type ScenarioSpec } from './faults/harness.ts';
import { scenarios, SHORT } from './faults/scenarios.ts';
import { startTelegramStore } from './faults/telegram-store.ts';

const specs = scenarios(SHORT, 'faults-test/logs', { canRestart: !process.env.DATABASE_URL });

describe('fault scenarios (short)', () => {
  let clusters: FaultClusters;
  beforeAll(async () => {
    const [app, simulatorStore] = await Promise.all([startOwnCluster({ fast: true }), startTelegramStore()]);
    clusters = { app, simulatorStore };
  }, 60_000);
  afterAll(async () => {
    // A scenario that failed by timing out may still have workers running: none outlives us.
    await reapWorkers();
    await clusters?.simulatorStore.stop();
    await clusters?.app.stop();
  });

  const check = (spec: ScenarioSpec) => async () => {
    const r = await runScenario(clusters, spec);
    const detail = `${spec.name}: ${r.notes.join('; ')}`;
    expect(r.deliveries, detail).toBe(spec.size.targets * (spec.size.accounts ?? 1));
    expect({ lost: r.lost, duplicated: r.duplicated, counters: r.counterMismatches, states: r.stateMismatches }, detail)
      .toEqual({ lost: 0, duplicated: 0, counters: 0, states: 0 });
    expect(r.ok, detail).toBe(true);
  };

  // The Postgres restart and crash alone first (they cut every connection of the cluster), then
  // the rest side by side: each has its own database, accounts and worker processes, and mostly
  // waits on timeouts. A scenario's verdict comes from its own bounds (pickup, notice, settle
  // within settleTimeoutMs); the test's timeout only catches a harness that hangs, so it leaves
  // room for a loaded machine's slow worker starts and WAL recovery on top of those bounds.
  const timeoutMs = (spec: ScenarioSpec) => spec.size.settleTimeoutMs + 90_000;
  for (const spec of specs.filter((s) => s.exclusive)) it(spec.name, check(spec), timeoutMs(spec));
  describe.concurrent('in parallel', () => {
    for (const spec of specs.filter((s) => !s.exclusive)) it(spec.name, check(spec), timeoutMs(spec));
  });
});
