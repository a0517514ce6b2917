import { describe, expect, it } from 'vitest';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import { asUser } from '../../scripts/test/db.ts';
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
  waitFor,
  waitForState,
} from './fixtures.ts';

describe('delivery', () => {
  it('sends every target once, records message ids and completes the campaign', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 30);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 20_000);
    const c = await campaign(world, id);
    expect(c).toMatchObject({ total_count: 30, sent_count: 30, pending_count: 0, failed_count: 0 });
    expect(await deliveryCounts(world, id)).toEqual({ sent: 30 });
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
    const { rows } = await world.sql.query(
      `select count(*)::int as n from public.deliveries where campaign_id = $1 and telegram_message_id is not null and attempts = 1`,
      [id],
    );
    expect(rows[0].n).toBe(30);
    // peers were resolved once and kept in the account's peer cache
    const ch = await world.sql.query(
      'select count(*)::int as n from private.account_peers where account_id = $1 and access_hash is not null',
      [world.accountId],
    );
    expect(ch.rows[0].n).toBe(30);
  });
});

describe('errors', () => {
  it('fails permanent errors at once with their code, and pauses past maxErrors', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 20);
    const targets: Record<string, { error: string; code: number }> = {};
    for (const p of peers.slice(0, 3)) targets[p] = { error: 'CHAT_WRITE_FORBIDDEN', code: 403 };
    targets[peers[3]!] = { error: 'CHANNEL_PRIVATE', code: 400 };
    targets[peers[4]!] = { error: 'USER_BANNED_IN_CHANNEL', code: 400 };
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, targets });
    await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 20_000);
    expect(await campaign(world, id)).toMatchObject({ sent_count: 15, failed_count: 5 });
    const { rows } = await world.sql.query(
      `select peer, error_code, attempts from public.deliveries where campaign_id = $1 and state = 'failed' order by peer`,
      [id],
    );
    expect(rows).toEqual([
      { peer: peers[0], error_code: 'CHAT_WRITE_FORBIDDEN', attempts: 1 },
      { peer: peers[1], error_code: 'CHAT_WRITE_FORBIDDEN', attempts: 1 },
      { peer: peers[2], error_code: 'CHAT_WRITE_FORBIDDEN', attempts: 1 },
      { peer: peers[3], error_code: 'CHANNEL_PRIVATE', attempts: 1 },
      { peer: peers[4], error_code: 'USER_BANNED_IN_CHANNEL', attempts: 1 },
    ]);

    // A second campaign over the same targets, 10 of 20 failing, with maxErrors 2 stops at its
    // third failure exactly, although one batch holds every target and sends run concurrently.
    for (const p of peers.slice(5, 10)) sim.setTarget(p, { error: 'CHAT_WRITE_FORBIDDEN', code: 403 });
    const failing = new Set(peers.slice(0, 10));
    const id2 = await createCampaign(world, { channelIds: ids, maxErrors: 2 });
    const paused = await waitForState(world, id2, 'paused', 20_000);
    expect(paused.pause_reason).toBe('error_threshold');
    expect(paused.failed_count).toBe(3);
    await new Promise((r) => setTimeout(r, 300));
    const c2 = await deliveryCounts(world, id2);
    expect(c2.failed).toBe(3);
    expect(c2.pending).toBeGreaterThan(0);
    expect((c2.sent ?? 0) + c2.pending! + c2.failed!).toBe(20);
    expect(await campaign(world, id2)).toMatchObject({
      state: 'paused',
      failed_count: 3,
      sent_count: c2.sent ?? 0,
      pending_count: c2.pending,
    });
    const failedPeers = await world.sql.query(`select peer from public.deliveries where campaign_id = $1 and state = 'failed'`, [
      id2,
    ]);
    expect(failedPeers.rows.every((r) => failing.has(r.peer))).toBe(true);
    // The rows left unsent have no live job, and the owner's resume enqueues them again; max_errors
    // counts anew from the resume, so the campaign pauses once more at its third new failure.
    await asUser(world.sql, world.userId, (t) => t.query('select public.resume_campaign($1)', [id2]));
    const again = await waitFor('paused again', async () => {
      const c = await campaign(world, id2);
      return c.state === 'paused' && c;
    }, 20_000);
    expect(again).toMatchObject({ pause_reason: 'error_threshold', failed_count: 6 });
    expect(await deliveryCounts(world, id2)).toMatchObject({ failed: 6 });
  });

  it('a revoked session pauses the account and its campaigns and stops sending', async () => {
    const world = await createWorld({ ratePerMinute: 600 });
    const { ids } = await addChannels(world, 40);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const worker = await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    // Revoked mid-campaign (at 10/s the 40 targets take 4 s), however slow the start was.
    await waitFor('3 sends', async () => sim.sends.length >= 3, 10_000, 5);
    sim.revoke(world.accountId);
    const paused = await waitForState(world, id, 'paused', 10_000);
    expect(paused.pause_reason).toBe('account');
    const { rows } = await world.sql.query('select status, status_reason from public.telegram_accounts where id = $1', [
      world.accountId,
    ]);
    expect(rows[0].status).toBe('revoked');
    expect(rows[0].status_reason).toMatch(/AUTH_KEY_UNREGISTERED/);
    const sentBefore = sim.sends.length;
    expect(sentBefore).toBeGreaterThanOrEqual(3);
    expect(sentBefore).toBeLessThan(40);
    expect(paused.sent_count).toBe(sentBefore);
    expect(worker.accounts()[0]!.status).toBe('session_lost');
    const h = await worker.health();
    expect(h.alerts.some((a) => a.condition === 'session_lost')).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(sim.sends.length).toBe(sentBefore);
    expect(await deliveryCounts(world, id)).toEqual({ sent: sentBefore, pending: 40 - sentBefore });
  });

  it('a hung send times out and is retried with the same random_id: one message', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 6);
    const sim = new TelegramSimulator({
      accountPerSecond: 10_000,
      targets: { [peers[0]!]: { hang: 'after', times: 1 }, [peers[1]!]: { hang: 'before', times: 2 } },
    });
    await startTestWorker(testConfig(world, { sendTimeoutMs: 300 }), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 20_000);
    expect(await campaign(world, id)).toMatchObject({ sent_count: 6, failed_count: 0 });
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
    const { rows } = await world.sql.query(
      `select d.peer, d.attempts, d.random_id::text from public.deliveries d where campaign_id = $1 and peer = any ($2) order by peer`,
      [id, peers.slice(0, 2)],
    );
    expect(rows.map((r) => [r.peer, r.attempts])).toEqual([[peers[0], 2], [peers[1], 3]]);
    // every attempt carried the delivery's random_id; the second one for peers[0] was a duplicate
    const tries = sim.sends.filter((s) => s.peer === peers[0]);
    expect(tries.map((s) => [s.randomId, s.duplicate])).toEqual([[rows[0].random_id, false], [rows[0].random_id, true]]);
  });

  it('a hung send does not hold up the campaign: the others go at their pace, the hung one once after its timeout', async () => {
    const world = await createWorld({ ratePerMinute: 1200 }); // 20/s: batches of 2, one campaign
    const { ids, peers } = await addChannels(world, 20);
    const hung = [peers[3]!, peers[8]!];
    const sim = new RecordingSimulator({
      accountPerSecond: 25,
      targets: { [hung[0]!]: { hang: 'before', times: 1 }, [hung[1]!]: { hang: 'after', times: 1 } },
    });
    const timeout = 4_000;
    await startTestWorker(testConfig(world, { sendTimeoutMs: timeout }), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 30_000);
    const others = sim.sends.filter((x) => !hung.includes(x.peer));
    for (const peer of hung) {
      const tries = sim.requestTimes(peer);
      const { rows } = await world.sql.query(
        'select attempts, random_id::text from public.deliveries where campaign_id = $1 and peer = $2',
        [id, peer],
      );
      expect(rows[0].attempts).toBe(2);
      // The retry comes after the hung attempt's full timeout, with the same random_id.
      expect(tries).toHaveLength(2);
      const [hungAt, retryAt] = tries as [number, number];
      expect(retryAt - hungAt).toBeGreaterThanOrEqual(timeout);
      expect(sim.sends.filter((x) => x.peer === peer).at(-1)!.randomId).toBe(rows[0].random_id);
      // A hang holds nothing but its own send: every send that came after it (the order is
      // random) went before its timeout, not held until then (the 18 take about 1 s).
      const after = others.filter((x) => x.requestedAt >= hungAt).map((x) => x.requestedAt - hungAt);
      console.log(`hang: ${after.length} other sends after ${peer} hung, the last ${Math.max(0, ...after)} ms after it`);
      for (const ms of after) expect(ms).toBeLessThan(timeout);
    }
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
    expect(await campaign(world, id)).toMatchObject({ sent_count: 20, failed_count: 0 });
  });

  it('an account stopped for PEER_FLOOD sends again, without a restart, once the owner resumes', async () => {
    const world = await createWorld({ ratePerMinute: 6000 });
    const { ids, peers } = await addChannels(world, 30);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, peerFloodAfter: 10 });
    const worker = await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    const paused = await waitForState(world, id, 'paused', 10_000);
    expect(paused.pause_reason).toBe('account');
    const acct = async () =>
      (await world.sql.query('select status from public.telegram_accounts where id = $1', [world.accountId])).rows[0].status;
    expect(await acct()).toBe('limited');
    await waitFor('runner stopped', async () => worker!.accounts()[0]!.status === 'account_stopped', 5_000);
    // Stays stopped across account refreshes (1 s in tests) while the account is limited.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(worker.accounts()[0]!.status).toBe('account_stopped');
    expect(sim.sends.length).toBe(10);

    sim.options.peerFloodAfter = undefined; // Telegram's limit has passed
    await asUser(world.sql, world.userId, (t) => t.query('select public.resume_campaign($1)', [id]));
    expect(await acct()).toBe('active');
    await waitForState(world, id, 'completed', 15_000);
    expect(worker.accounts()[0]!.status).toBe('running');
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
    expect(await deliveryCounts(world, id)).toEqual({ sent: 30 });
  });

  it('SLOWMODE_WAIT reschedules the delivery without using an attempt', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 2);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, targets: { [peers[0]!]: { slowmodeSeconds: 1 } } });
    await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const first = await createCampaign(world, { channelIds: [ids[0]!] });
    await waitForState(world, first, 'completed', 10_000);
    const t0 = Date.now();
    const second = await createCampaign(world, { channelIds: ids });
    await waitForState(world, second, 'completed', 10_000);
    expect(Date.now() - t0).toBeGreaterThan(300);
    const { rows } = await world.sql.query(`select attempts, state from public.deliveries where campaign_id = $1 and peer = $2`, [
      second,
      peers[0],
    ]);
    expect(rows[0]).toEqual({ attempts: 1, state: 'sent' });
    expect((await sim.countsByPeer()).get(peers[0]!)).toBe(2);
  });
});

describe('account lock', () => {
  it('a second worker for the same account waits and takes over when the first stops', async () => {
    const world = await createWorld({ ratePerMinute: 1200 });
    const { ids, peers } = await addChannels(world, 40);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const worker = await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const second = await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    await waitFor('the first worker running', async () => worker.accounts()[0]!.status === 'running', 10_000);
    await waitFor('the second waiting', async () => second.accounts()[0]!.status === 'waiting_lock', 10_000);
    expect(worker.accounts()[0]!.status).toBe('running');
    const id = await createCampaign(world, { channelIds: ids });
    await new Promise((r) => setTimeout(r, 700));
    await worker.stop(); // graceful: in-flight batch committed, lock released
    await waitForState(world, id, 'completed', 20_000);
    expect(second.accounts()[0]!.status).toBe('running');
    const counts = await sim.countsByPeer();
    for (const p of peers) expect(counts.get(p)).toBe(1);
    expect(await deliveryCounts(world, id)).toEqual({ sent: 40 });
  });
});
