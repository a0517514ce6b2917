// The fault suite's short scenarios inside `npm test`: each kind once, small, on a Postgres of
// its own (the restart scenario must not disturb the shared test cluster), each against a
// Telegram stand-in of its own reached by the worker's real GramJS client. Every scenario must
// end with no lost and no duplicated message and counters equal to the delivery rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnCluster } from './bench/cluster.ts';
import {
  barrier,
  type FaultClusters,
  reapWorkers,
  runScenario,
  type ScenarioResult,
  type ScenarioSpec,
} from './faults/harness.ts';
import { scenarios, SHORT } from './faults/scenarios.ts';

const specs = scenarios(SHORT, 'faults-test/logs', { canRestart: !process.env.DATABASE_URL });

describe('fault scenarios (short)', () => {
  let clusters: FaultClusters;
  beforeAll(async () => {
    clusters = { app: await startOwnCluster({ fast: true }) };
  }, 60_000);
  afterAll(async () => {
    // A scenario that failed by timing out may still have workers running: none outlives us.
    await reapWorkers();
    await clusters?.app.stop();
  });

  const check = (run: () => Promise<ScenarioResult>, spec: ScenarioSpec) => async () => {
    const r = await run();
    const detail = `${spec.name}: ${r.notes.join('; ')}`;
    expect(r.deliveries, detail).toBe(spec.size.targets * (spec.size.accounts ?? 1));
    expect({ lost: r.lost, duplicated: r.duplicated, counters: r.counterMismatches, states: r.stateMismatches }, detail)
      .toEqual({ lost: 0, duplicated: 0, counters: 0, states: 0 });
    expect(r.ok, detail).toBe(true);
  };

  // The Postgres restart and crash alone first (they cut every connection of the cluster), then
  // the rest side by side: each has its own database, accounts, stand-in and worker processes,
  // and mostly waits on timeouts. They all start together when the first of them is reached
  // (vitest runs at most 5 concurrent tests at once; these are more), and start their workers
  // once every one has its Telegram set up (barrier). A scenario's verdict
  // comes from its own bounds (pickup, notice, settle within settleTimeoutMs); the test's
  // timeout only catches a harness that hangs, so it leaves room for a loaded machine's slow
  // worker starts, sign-ups and WAL recovery on top of those bounds.
  const timeoutMs = (spec: ScenarioSpec) => spec.size.settleTimeoutMs + 120_000;
  for (const spec of specs.filter((s) => s.exclusive)) {
    it(
      spec.name,
      check(() => runScenario(clusters, spec), spec),
      timeoutMs(spec),
    );
  }
  const sideBySide = specs.filter((s) => !s.exclusive);
  let running: Map<ScenarioSpec, Promise<ScenarioResult>> | undefined;
  const result = (spec: ScenarioSpec) => {
    if (!running) {
      const setUpDone = barrier(sideBySide.length);
      running = new Map(sideBySide.map((s) => [s, runScenario(clusters, s, setUpDone)]));
      // Awaited by their own tests; a rejection meanwhile is theirs to report, not an unhandled one.
      for (const p of running.values()) p.catch(() => {});
    }
    return running.get(spec)!;
  };
  for (const spec of sideBySide) it(spec.name, check(() => result(spec), spec), timeoutMs(spec));
});
