// The worker finds its way back after the database failed it: a fetch that failed is asked
// again (an idle account whose fetch failed must not wait for a NOTIFY that never comes), and
// /health says so while accounts with due jobs are not fetching.
import { describe, expect, it } from 'vitest';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
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

describe('recovery after database failures', () => {
  it('a fetch that failed is tried again; /health is degraded (not_fetching) meanwhile', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids } = await addChannels(world, 20);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const worker = await startTestWorker(testConfig(world, { fetchStallSeconds: 1, pollingSeconds: 0.5 }), {
      logger: testLogger(),
      simulator: sim,
    });
    await waitFor('the account running', async () => worker.accounts()[0]?.status === 'running', 20_000);
    // Every fetch fails (as while the database restarts) until the function is back.
    const admin = await world.db.connectAdmin();
    await admin.query('alter function public.worker_take(integer, jsonb, integer) rename to worker_take_away');
    const id = await createCampaign(world, { channelIds: ids });
    const alert = await waitFor('a not_fetching alert', async () => {
      const h = await worker.health();
      return h.status === 'degraded' && h.alerts.find((a) => a.condition === 'not_fetching' && a.subject === world.accountId);
    }, 20_000);
    expect(alert.detail).toMatch(/jobs due since/);
    await admin.query('alter function public.worker_take_away(integer, jsonb, integer) rename to worker_take');
    await admin.end();
    await waitForState(world, id, 'completed', 30_000);
    expect(await deliveryCounts(world, id)).toEqual({ sent: 20 });
    expect((await worker.health()).alerts.filter((a) => a.condition === 'not_fetching')).toEqual([]);
  }, 90_000);
});
