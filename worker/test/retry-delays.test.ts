// The real 5 s / 10 s / 20 s schedule (about 36 s): kept in its own file so it runs beside others.
// Checked on what the worker schedules (the retryAt it writes, against the moment the failed
// attempt reached Telegram), so a busy machine's late wake-ups do not blur the delays.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import {
  addChannels,
  createCampaign,
  createWorld,
  RecordingSimulator,
  startTestWorker,
  testConfig,
  waitForState,
} from './fixtures.ts';

/** From the failed attempt's arrival to the worker reading its clock for retryAt: a few ms. */
const HANDLING_MS = 1000;
/** How late a due retry may start (a wake-up timer and one fetch); well under one delay step. */
const PICKUP_MS = 2500;

describe('retries with the real delays', () => {
  it('retries after 5 s, 10 s and 20 s (jitter ≤ 10 %), never early, then fails', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 1);
    const sim = new RecordingSimulator({ targets: { [peers[0]!]: { error: 'INTERNAL', code: 500 } } });
    const retries: string[] = [];
    const logger = createLogger('info', {
      write: (line: string) => {
        const l = JSON.parse(line) as { msg: string; retryAt?: string };
        if (l.msg === 'delivery will be retried') retries.push(l.retryAt!);
      },
    });
    await startTestWorker(testConfig(world, { retryBaseSeconds: 5, retryJitter: 0.1 }), { logger, simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 60_000);

    const attempts = sim.requestTimes(peers[0]!);
    const scheduled = retries.map((r) => Date.parse(r));
    const delays = scheduled.map((t, i) => t - attempts[i]!);
    const late = scheduled.map((t, i) => attempts[i + 1]! - t);
    console.log(`retry delays scheduled: ${delays.join(' ms, ')} ms; retries started ${late.join(' ms, ')} ms after`);
    expect(attempts).toHaveLength(4);
    expect(scheduled).toHaveLength(3);
    [5000, 10_000, 20_000].forEach((d, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(d);
      expect(delays[i]).toBeLessThanOrEqual(d * 1.1 + HANDLING_MS);
      // Never before its time; promptly after it.
      expect(late[i]).toBeGreaterThanOrEqual(0);
      expect(late[i]).toBeLessThan(PICKUP_MS);
    });
    const { rows } = await world.sql.query('select state, attempts, error_code from public.deliveries where campaign_id = $1', [
      id,
    ]);
    expect(rows[0]).toEqual({ state: 'failed', attempts: 4, error_code: 'INTERNAL' });
  }, 90_000);
});
