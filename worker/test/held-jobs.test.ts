// Claims are sized by a campaign's own cap: a slow campaign on a fast account never holds a job
// longer than pg-boss lets it (the job's expiry), so no job is expired and retried under the worker.
import { describe, expect, it } from 'vitest';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addChannels,
  campaign,
  createCampaign,
  createWorld,
  startTestWorker,
  testConfig,
  testLogger,
  waitForState,
} from './fixtures.ts';

describe('held jobs', () => {
  it('a 14-target campaign at its cap on a fast account: every job sent within its expiry, none retried', async () => {
    const world = await createWorld({ ratePerMinute: 1_200 });
    // Time scaled down: jobs expire after 10 s instead of 120 s, the campaign sends 30/min
    // instead of 4/min; its 14 targets take 26 s, well past the expiry if all were held at once.
    await world.sql.query(
      `update pgboss.queue set expire_seconds = 10 where name = private.delivery_queue($1)`,
      [world.accountId],
    );
    const { ids } = await addChannels(world, 14);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids, ratePerMinute: 30 });
    await waitForState(world, id, 'completed', 80_000);

    expect(await campaign(world, id)).toMatchObject({ sent_count: 14, failed_count: 0 });
    const { rows } = await world.sql.query(
      `select j.expire_seconds, j.retry_count, j.output from public.deliveries d
       join pgboss.job j on j.id = d.job_id where d.campaign_id = $1`,
      [id],
    );
    expect(rows).toHaveLength(14);
    expect(rows.map((r) => [r.expire_seconds, r.retry_count, r.output?.message ?? null])).toEqual(
      rows.map(() => [10, 0, null]),
    );
  }, 120_000);
});
