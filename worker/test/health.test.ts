// The worker's /health for an operator: each account it serves with its own state and the
// database's status (the API's vocabulary), and every account of the database with the worker
// holding it, read in one statement.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { HealthReport } from '../src/health.ts';
import { healthReporter } from '../src/health.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import { addAccount, createWorld, startTestWorker, testConfig, testLogger, waitFor } from './fixtures.ts';

const health = async (port: number | null) => (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as HealthReport;

describe('/health and account statuses', () => {
  it("lists each served account's database status, and every account with the worker holding it", async () => {
    const world = await createWorld();
    const [a, b, idle] = [
      world.accountId,
      await addAccount(world.sql, world.userId, 600),
      await addAccount(world.sql, world.userId, 600),
    ];
    const sim = new TelegramSimulator();
    const http = { httpPort: 0, httpHost: '127.0.0.1' };
    const one = await startTestWorker(testConfig(world, { ...http, accounts: [{ accountId: a }] }), {
      logger: testLogger(),
      simulator: sim,
    });
    const two = await startTestWorker(testConfig(world, { ...http, accounts: [{ accountId: b }] }), {
      logger: testLogger(),
      simulator: sim,
    });
    await waitFor(
      'both running',
      async () => one.accounts()[0]?.status === 'running' && two.accounts()[0]?.status === 'running',
      10_000,
    );

    const until = (await world.sql.query('select public.worker_flood_wait($1, 300) as u', [a])).rows[0].u as Date;
    await world.sql.query('select public.worker_account_status($1, $2, $3)', [b, 'limited', 'PEER_FLOOD: test']);
    const [h1, h2] = [await health(one.httpPort), await health(two.httpPort)];

    expect(h1.accounts).toEqual([expect.objectContaining({
      accountId: a,
      database: { status: 'flood_wait', statusReason: 'FLOOD_WAIT_300', floodWaitUntil: until.toISOString() },
    })]);
    expect(h2.accounts).toEqual([expect.objectContaining({
      accountId: b,
      database: { status: 'limited', statusReason: 'PEER_FLOOD: test', floodWaitUntil: null },
    })]);
    expect(h1.worker.lockPid).toBeGreaterThan(0);
    expect(h2.worker.lockPid).not.toBe(h1.worker.lockPid);
    // Both see the same database: every account, who holds it (by lock session), none for the idle one.
    const held = (h: HealthReport) => h.fleet!.map((f) => [f.accountId, f.status, f.heldBy && f.heldBy.lockPid, f.heldBy?.self]);
    expect(held(h1)).toEqual([
      [a, 'flood_wait', h1.worker.lockPid, true],
      [b, 'limited', h2.worker.lockPid, false],
      [idle, 'active', null, undefined],
    ]);
    expect(held(h2)).toEqual([
      [a, 'flood_wait', h1.worker.lockPid, false],
      [b, 'limited', h2.worker.lockPid, true],
      [idle, 'active', null, undefined],
    ]);
    expect(h1.fleet![1]!.heldBy).toMatchObject({ session: 'tg-worker locks' });
  });

  it('adds one statement per report, whatever the number of accounts', async () => {
    const world = await createWorld();
    for (let i = 0; i < 20; i++) await addAccount(world.sql, world.userId, 600);
    const pool = new pg.Pool({ connectionString: world.db.url, max: 1 });
    const statements: string[] = [];
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
    (pool as unknown as { query: typeof query }).query = (...args: unknown[]) => {
      statements.push(String(args[0]));
      return query(...args);
    };
    try {
      // A worker serving nothing yet: the alerts read nothing, the accounts one statement.
      const r = healthReporter({
        pool,
        accounts: () => [],
        stopping: () => false,
        lastFetchAt: () => 0,
        stallMs: 1,
        lockPid: () => 0,
      });
      const report = await r.report();
      expect(report.fleet).toHaveLength(21);
      expect(report.status).toBe('ok');
      expect(statements).toHaveLength(1);
    } finally {
      await pool.end();
    }
  });
});
