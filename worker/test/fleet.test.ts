// Many accounts in one process: a constant number of connections, one message per target,
// accounts that disappear from the database, and an explicit Telegram mode.
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../src/config.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addAccount,
  addChannels,
  createCampaign,
  createWorld,
  deliveryCounts,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
} from './fixtures.ts';

describe('fleet', () => {
  it('serves 30 accounts, each with a campaign, on at most maxConnections connections', async () => {
    const world = await createWorld({ ratePerMinute: 600 });
    const accounts = [world.accountId];
    // 50 accounts per user: a second user's accounts would need a second world; 30 fit in one.
    for (let i = 1; i < 30; i++) accounts.push(await addAccount(world.sql, world.userId, 600));
    const { ids, peers } = await addChannels(world, 20);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 10_000, latencyMs: [5, 20] });
    const worker = await startTestWorker(
      testConfig(world, { accounts: accounts.map((accountId) => ({ accountId })), maxConnections: 6 }),
      { logger: testLogger(), simulator: sim },
    );
    await waitFor('all running', async () => worker.accounts().every((a) => a.status === 'running'), 10_000);
    let peak = 0;
    const sampler = setInterval(() => {
      void world.sql.query(
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name like 'tg-worker%'`,
      )
        .then((r) => {
          peak = Math.max(peak, r.rows[0].n);
        }, () => {});
    }, 50);
    try {
      const campaigns = [];
      for (const accountId of accounts) campaigns.push(await createCampaign(world, { channelIds: ids, accountId }));
      for (const id of campaigns) await waitForState(world, id, 'completed', 30_000);
      for (const id of campaigns) expect(await deliveryCounts(world, id)).toEqual({ sent: 20 });
    } finally {
      clearInterval(sampler);
    }
    console.log(`fleet: 30 accounts × 20 targets, peak worker connections ${peak} (limit 6)`);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(6);
    // 30 campaigns posted to the same 20 channels: each campaign exactly once per channel.
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(30);
  });

  it('simulator mode without a list serves the database accounts and drops deleted ones', async () => {
    const world = await createWorld({ ratePerMinute: 600 });
    const extra = await addAccount(world.sql, world.userId, 600);
    const worker = await startTestWorker(testConfig(world, { accounts: null }), {
      logger: testLogger(),
      simulator: new TelegramSimulator(),
    });
    await waitFor('both served', async () => worker.accounts().filter((a) => a.status === 'running').length === 2, 10_000);
    await world.sql.query('delete from public.telegram_accounts where id = $1', [extra]);
    await waitFor('deleted account dropped', async () => worker.accounts().map((a) => a.id).join() === world.accountId, 5_000);
  });

  it('refuses to guess the Telegram mode', () => {
    expect(() => configFromEnv({ DATABASE_URL: 'postgres://x' })).toThrow(/TELEGRAM_MODE is required/);
    expect(() =>
      configFromEnv({
        DATABASE_URL: 'postgres://x',
        TELEGRAM_MODE: 'gramjs',
        TELEGRAM_ACCOUNTS: '[{"accountId":"6f1f8b4e-3c0a-4a57-9c39-8d0f64a3f1a2"}]',
      })
    )
      .toThrow(/has no session/);
    expect(configFromEnv({ DATABASE_URL: 'postgres://x', TELEGRAM_MODE: 'simulator' })).toMatchObject({
      mode: 'simulator',
      accounts: null,
      maxConnections: 8,
    });
  });
});
