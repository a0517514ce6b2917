import { describe, expect, it } from 'vitest';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addChannels,
  campaign,
  createCampaign,
  createWorld,
  deliveryCounts,
  RecordingSimulator,
  startTestWorker,
  testConfig,
  testLogger,
  waitForState,
} from './fixtures.ts';

/** From the FLOOD_WAIT answer to the commit that pauses (resume_at is that commit's now() + the wait). */
const PAUSE_MS = 2000;

describe('FLOOD_WAIT', () => {
  it("pauses the campaign with resume_at at the wait's end, resumes alone, delivers every target once", async () => {
    const world = await createWorld({ ratePerMinute: 6000 });
    const { ids, peers } = await addChannels(world, 120);
    const sim = new RecordingSimulator({ accountPerSecond: 10_000, floodAfter: { sends: 50, seconds: 3 } });
    await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    // the 51st send gets FLOOD_WAIT_3
    const paused = await waitForState(world, id, 'paused', 20_000);
    expect(paused.pause_reason).toBe('flood_wait');
    expect(paused.sent_count).toBe(50);
    const acct = await world.sql.query('select status from public.telegram_accounts where id = $1', [world.accountId]);
    expect(acct.rows[0].status).toBe('flood_wait');
    // The 51st request or a later one got the FLOOD_WAIT: the wait counts from no earlier.
    const floodAt = sim.requests[50]!.at;
    const resumeAt = new Date(paused.resume_at!).getTime();
    // The wait counts from the answer: never shorter, and only the commit's delay longer.
    expect(resumeAt - floodAt).toBeGreaterThanOrEqual(3000);
    expect(resumeAt - floodAt).toBeLessThan(3000 + PAUSE_MS);

    await waitForState(world, id, 'completed', 20_000);
    // Nothing was posted from the FLOOD_WAIT answer until resume_at; then sending went on alone.
    const firstAfter = Math.min(...sim.sends.slice(50).map((s) => s.at));
    console.log(`flood: resume_at ${resumeAt - floodAt} ms after the answer, first send ${firstAfter - resumeAt} ms after it`);
    expect(firstAfter).toBeGreaterThanOrEqual(resumeAt);
    const c = await campaign(world, id);
    expect(c).toMatchObject({ sent_count: 120, failed_count: 0, pending_count: 0 });
    expect(await deliveryCounts(world, id)).toEqual({ sent: 120 });
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
    // no attempt was used by the FLOOD_WAIT
    const { rows } = await world.sql.query('select max(attempts)::int as m from public.deliveries where campaign_id = $1', [id]);
    expect(rows[0].m).toBe(1);
    const a2 = await world.sql.query('select status from public.telegram_accounts where id = $1', [world.accountId]);
    expect(a2.rows[0].status).toBe('active');
  });
});

describe('retries', () => {
  it('retries transient errors at base×1, ×2, ×4 (scaled) and fails the 4th with its code', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 4);
    const sim = new TelegramSimulator({
      accountPerSecond: 10_000,
      targets: {
        [peers[0]!]: { error: 'INTERNAL', code: 500 },
        [peers[1]!]: { error: 'RPC_TIMEOUT', code: -503, times: 2 },
      },
    });
    await startTestWorker(testConfig(world, { retryBaseSeconds: 0.4 }), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 20_000);
    const { rows } = await world.sql.query(
      `select peer, state, attempts, error_code from public.deliveries where campaign_id = $1 order by peer`,
      [id],
    );
    expect(rows[0]).toEqual({ peer: peers[0], state: 'failed', attempts: 4, error_code: 'INTERNAL' });
    expect(rows[1]).toMatchObject({ peer: peers[1], state: 'sent', attempts: 3 });
    const tries = sim.sends.length; // accepted sends only; count the attempts of peers[0] from the gaps
    expect(tries).toBe(3);
    expect((await sim.countsByPeer()).get(peers[1]!)).toBe(1);
    expect(await campaign(world, id)).toMatchObject({ sent_count: 3, failed_count: 1 });
  });
});
