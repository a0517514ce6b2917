// Faults of the worker's database connections that leave other connections untouched: a
// Postgres restart that only the lock/LISTEN session lives to see, and a lock/LISTEN
// connection gone half-open behind a proxy. Either way the worker must notice, connect again,
// take its accounts back and finish the campaigns (the audit checks every message once).
import { sleep } from '../../contracts/time.ts';
import { withClient } from '../lib/database.ts';
import type { ScenarioContext, ScenarioSpec } from './harness.ts';
import type { FaultSizes } from './scenarios.ts';
import { startTcpProxy } from './tcp-proxy.ts';

/** The worker's connections (application_name tg-worker*) as Postgres sees them now. */
async function workerConnections(ctx: ScenarioContext): Promise<string[]> {
  return await withClient(ctx.cluster.adminUrl, async (c) =>
    (await c.query<{ app: string }>(
      `select application_name as app from pg_stat_activity where datname = $1 and application_name like 'tg-worker%'
       order by 1`,
      [ctx.db.name],
    )).rows.map((r) => r.app));
}

/**
 * Postgres restarts while the worker's pools hold no connection (closed as idle, or ended by
 * the server; here the test ends them the moment before), so the lock/LISTEN session alone
 * sees it. The campaigns start after the restart, and the worker must learn of them from the
 * NOTIFY of the LISTEN session it re-established: its own look for due jobs comes only every
 * POLLING_SECONDS (60 s here), far later than the bound checked.
 */
export function lockOnlyRestartScenario(size: FaultSizes['lockOnlyRestart'], logDir: string): ScenarioSpec {
  const pickupMs = 10_000;
  return {
    name: 'postgres restart, only the lock session open',
    size,
    logDir,
    exclusive: true,
    async run(ctx) {
      if (!ctx.cluster.canRestart) throw new Error('this cluster cannot be restarted (DATABASE_URL or the shared test cluster)');
      await ctx.worker('lock-only', { env: { POLLING_SECONDS: '60' } });
      await withClient(ctx.cluster.adminUrl, (c) =>
        c.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
           where datname = $1 and application_name like 'tg-worker%' and application_name <> 'tg-worker locks'`,
          [ctx.db.name],
        ));
      const open = await workerConnections(ctx);
      await ctx.cluster.restart(size.downMs);
      ctx.notes.push(`worker connections open at the restart: ${open.join(', ') || 'none'}`);
      const deadline = Date.now() + 20_000;
      while (!(await workerConnections(ctx).catch((): string[] => [])).includes('tg-worker locks') && Date.now() < deadline) {
        await sleep(200);
      }
      await sleep(2_000); // the accounts start once their locks are held again
      const started = Date.now();
      await ctx.start();
      const picked = await ctx.waitSent(1, pickupMs);
      ctx.notes.push(
        `first send ${picked ? `${Date.now() - started} ms` : `not within ${pickupMs} ms`} after the campaigns started`,
      );
      if (!picked) ctx.violations.push(`campaigns started after the restart not picked up (NOTIFY) within ${pickupMs} ms`);
    },
  };
}

/**
 * The lock/LISTEN connection stops forwarding (both ends keep their sockets) mid-campaign. The
 * worker must notice within noticeMs (its heartbeat on that session), connect a new one, end
 * the old backend (which still holds every account's lock) and go on.
 */
export function halfOpenLockScenario(size: FaultSizes['halfOpenLock'], logDir: string): ScenarioSpec {
  return {
    name: 'lock session half-open',
    size,
    logDir,
    async run(ctx) {
      const u = new URL(ctx.db.url);
      const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
      // Up until the workers are gone: every connection of the worker goes through it.
      ctx.cleanup(() => proxy.close());
      await ctx.worker('half-open', { databaseUrl: proxy.url(ctx.db.url) });
      await ctx.start();
      await ctx.waitSent(Math.floor(size.targets * (size.accounts ?? 1) * 0.2), 30_000);
      const at = await ctx.sent();
      const frozenAt = Date.now();
      const n = proxy.freeze((app) => app === 'tg-worker locks');
      if (n !== 1) ctx.violations.push(`${n} lock connections to freeze, expected 1`);
      let replaced: number | undefined;
      while (replaced === undefined && Date.now() - frozenAt < size.noticeMs + 10_000) {
        replaced = proxy.flows().find((f) => f.app === 'tg-worker locks' && !f.frozen && f.openedAt > frozenAt)?.openedAt;
        await sleep(100);
      }
      const took = replaced === undefined ? undefined : replaced - frozenAt;
      ctx.notes.push(
        `lock connection half-open at ${at} sent; ${took === undefined ? 'never replaced' : `replaced after ${took} ms`}`,
      );
      if (took === undefined || took > size.noticeMs) {
        ctx.violations.push(`half-open lock connection not replaced within ${size.noticeMs} ms`);
      }
    },
  };
}
