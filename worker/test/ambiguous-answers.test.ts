// Telegram's ambiguous answers: RANDOM_ID_DUPLICATE while a first call is in flight, timeouts
// whose outcome stays unknown, and Telegram unreachable for a while.
import { describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addChannels,
  campaign,
  createCampaign,
  createWorld,
  deliveryCounts,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
} from './fixtures.ts';

describe('ambiguous answers', () => {
  it('RANDOM_ID_DUPLICATE means in flight: checked again later, no attempt spent, never a failure', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 5);
    // Telegram takes 1.5 s over the first send to peers[0]; the worker gives up after 500 ms and
    // resends (same random_id) while the first is still being processed.
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, targets: { [peers[0]!]: { processingMs: 1_500, times: 1 } } });
    await startTestWorker(testConfig(world, { sendTimeoutMs: 500, retryBaseSeconds: 0.1 }), {
      logger: testLogger(),
      simulator: sim,
    });
    const id = await createCampaign(world, { channelIds: ids, maxErrors: 0 });
    await waitForState(world, id, 'completed', 15_000);
    const { rows } = await world.sql.query(
      'select state, attempts, random_id::text from public.deliveries where campaign_id = $1 and peer = $2',
      [id, peers[0]],
    );
    // attempt 1 timed out (unknown outcome, retried); the resend met RANDOM_ID_DUPLICATE (no
    // attempt); a later check found the message the first call posted.
    expect(rows[0]).toMatchObject({ state: 'sent', attempts: 2 });
    expect(await campaign(world, id)).toMatchObject({ state: 'completed', sent_count: 5, failed_count: 0 });
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
  });

  it('a delivery whose every attempt timed out is unconfirmed, not failed; retry-failed sends it once', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 3);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, targets: { [peers[1]!]: { hang: 'before', times: 4 } } });
    await startTestWorker(testConfig(world, { sendTimeoutMs: 300, retryBaseSeconds: 0.05 }), {
      logger: testLogger(),
      simulator: sim,
    });
    const id = await createCampaign(world, { channelIds: ids, maxErrors: 0 });
    const done = await waitForState(world, id, 'completed', 15_000);
    // Not failed: the max-errors threshold of 0 did not pause the campaign.
    expect(done).toMatchObject({ sent_count: 2, failed_count: 0, unconfirmed_count: 1 });
    expect(await deliveryCounts(world, id)).toEqual({ sent: 2, unconfirmed: 1 });
    const { rows } = await world.sql.query(
      'select attempts, error_code from public.deliveries where campaign_id = $1 and peer = $2',
      [id, peers[1]],
    );
    expect(rows[0]).toEqual({ attempts: 4, error_code: 'TIMEOUT' });

    await asUser(world.sql, world.userId, (t) => t.query('select public.retry_failed_deliveries($1)', [id]));
    await waitForState(world, id, 'completed', 15_000);
    expect(await deliveryCounts(world, id)).toEqual({ sent: 3 });
    expect((await sim.countsByPeer()).get(peers[1]!)).toBe(1);
  });

  it('Telegram unreachable: deliveries wait without spending attempts, /health says why, sending resumes alone', async () => {
    const world = await createWorld({ ratePerMinute: 1_200 });
    const { ids, peers } = await addChannels(world, 40);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, latencyMs: [2, 5] });
    const worker = await startTestWorker(testConfig(world, { sendTimeoutMs: 400, probeTimeoutMs: 300 }), {
      logger: testLogger(),
      simulator: sim,
    });
    const id = await createCampaign(world, { channelIds: ids, maxErrors: 0 });
    await waitFor('10 sends', async () => sim.sends.length >= 10, 10_000, 5);
    // Unreachable until the worker has shown it (however long that takes on a busy machine).
    sim.setUnreachable(Infinity);
    const health = await waitFor('unreachable', async () => {
      const h = await worker.health();
      return h.alerts.some((a) => a.condition === 'telegram_unreachable') && h;
    }, 15_000);
    expect(health.status).toBe('degraded');
    // Shown to the owner too (GET /accounts: unreachableSince, unreachableReason).
    const acct = await waitFor('recorded', async () =>
      (await world.sql.query(
        'select unreachable_since, unreachable_reason from public.telegram_accounts where id = $1 and unreachable_since is not null',
        [world.accountId],
      )).rows[0], 10_000);
    expect(acct.unreachable_reason).toMatch(/TIMEOUT/);
    expect((await campaign(world, id)).state).toBe('running');
    sim.setUnreachable(null);

    await waitForState(world, id, 'completed', 20_000);
    expect(await deliveryCounts(world, id)).toEqual({ sent: 40 });
    const { rows } = await world.sql.query('select max(attempts)::int as m from public.deliveries where campaign_id = $1', [id]);
    expect(rows[0].m).toBe(1); // the timeouts during the outage spent no attempt
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
    expect((await worker.health()).accounts[0]!.status).toBe('running');
    const after = await world.sql.query('select unreachable_since from public.telegram_accounts where id = $1', [
      world.accountId,
    ]);
    expect(after.rows[0].unreachable_since).toBeNull();
  });

  it('an account a previous worker left marked unreachable is cleared once connected; a clear that changes nothing writes nothing', async () => {
    const world = await createWorld();
    // As a worker that died during an outage leaves it (or an account moved to a new connection).
    await world.sql.query(
      `update public.telegram_accounts set unreachable_since = now() - interval '1 hour', unreachable_reason = 'TIMEOUT: probe'
       where id = $1`,
      [world.accountId],
    );
    const row = async () =>
      (await world.sql.query(
        'select unreachable_since, unreachable_reason, xmin::text as version from public.telegram_accounts where id = $1',
        [world.accountId],
      )).rows[0];
    const worker = await startTestWorker(testConfig(world), { logger: testLogger(), simulator: new TelegramSimulator() });
    await waitFor('cleared', async () => (await row()).unreachable_since === null, 15_000);
    expect((await row()).unreachable_reason).toBeNull();
    expect((await worker.health()).accounts[0]!.status).toBe('running');
    const version = (await row()).version;
    await world.sql.query('select public.worker_account_reachable($1, null)', [world.accountId]);
    expect((await row()).version).toBe(version);
  });
});
