// The real 5 s / 10 s / 20 s schedule (about 36 s): kept in its own file so it runs beside others.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import { addChannels, createCampaign, createWorld, startTestWorker, testConfig, testLogger, waitForState } from './fixtures.ts';

/** Records when each SendMessage to `peer` reached the simulator (failed ones included). */
class TimingSimulator extends TelegramSimulator {
  attempts: number[] = [];
  watch = '';
  override async handle(accountId: string, request: Api.AnyRequest): Promise<unknown> {
    if (
      request instanceof Api.messages.SendMessage && request.peer instanceof Api.InputPeerChannel &&
      `-100${request.peer.channelId}` === TelegramSimulator.markedIdFor(this.watch)
    ) this.attempts.push(Date.now());
    return super.handle(accountId, request);
  }
}

describe('retries with the real delays', () => {
  it('retries after 5 s, 10 s and 20 s (jitter ≤ 10 %), then fails', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 1);
    const sim = new TimingSimulator({ targets: { [peers[0]!]: { error: 'INTERNAL', code: 500 } } });
    sim.watch = peers[0]!;
    await startTestWorker(testConfig(world, { retryBaseSeconds: 5 }), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 60_000);
    const gaps = sim.attempts.slice(1).map((t, i) => (t - sim.attempts[i]!) / 1000);
    console.log(`retry delays: ${gaps.map((g) => g.toFixed(2)).join(' s, ')} s`);
    expect(gaps).toHaveLength(3);
    [5, 10, 20].forEach((d, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(d);
      expect(gaps[i]).toBeLessThanOrEqual(d * 1.1 + 0.3);
    });
    const { rows } = await world.sql.query('select state, attempts, error_code from public.deliveries where campaign_id = $1', [
      id,
    ]);
    expect(rows[0]).toEqual({ state: 'failed', attempts: 4, error_code: 'INTERNAL' });
  }, 90_000);
});
