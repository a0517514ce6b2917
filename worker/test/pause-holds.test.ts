// The answer of pause and cancel is a promise: once the RPC has answered, no send of the campaign
// starts. Checked from the stand-in's own record of when each send started (startedAt), against
// the moment the owner's RPC answered, over many pauses and cancels on several accounts.
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { clock } from '../src/pacing.ts';
import type { TargetBehaviour } from '../src/simulator/options.ts';
import { type SendRecord, TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addAccount,
  addChannels,
  campaign,
  createCampaign,
  createWorld,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  type World,
} from './fixtures.ts';

const ACCOUNTS = 3;
const PAUSES_PER_ACCOUNT = 7;
const CANCELS_PER_ACCOUNT = 3;
const TARGETS = 300;
/** Sends of the campaign to let through between two stops (the pause lands mid-way). */
const SENDS_BETWEEN = 3;
/** Longer than a clearance lasts: a send that started as the stop began is in flight at its answer. */
const SLOW_MS = 1_500;

interface Stop {
  action: 'pause' | 'cancel';
  campaignId: string;
  accountId: string;
  /** When the RPC answered, on the stand-in's clock (startedAt) and in epoch ms (SendRecord.at). */
  answeredAt: number;
  answeredAtMs: number;
  /** Sends from here on are legitimate again: the owner asked to resume. */
  until: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The owner's RPC in a transaction of its own, as the campaigns function runs it. */
async function rpc(w: World, client: pg.Client, fn: string, id: string): Promise<void> {
  await asUser(client, w.userId, (t) => t.query(`select public.${fn}($1)`, [id]));
}

async function campaignOf(w: World): Promise<Map<string, string>> {
  const { rows } = await w.sql.query('select random_id::text as r, campaign_id from public.deliveries');
  return new Map(rows.map((x) => [x.r as string, x.campaign_id as string]));
}

describe('pause and cancel hold', () => {
  it('no send of a campaign starts after its pause or cancel answered; in-flight ones are counted', async () => {
    const world = await createWorld({ ratePerMinute: 1200 });
    const accounts = [world.accountId];
    while (accounts.length < ACCOUNTS) accounts.push(await addAccount(world.sql, world.userId, 1200));
    const plan: Array<{ accountId: string; main: string; cancels: string[] }> = [];
    const slow: Record<string, TargetBehaviour> = {};
    for (const [i, accountId] of accounts.entries()) {
      const { ids } = await addChannels(world, TARGETS, `a${i}`);
      const main = await createCampaign(world, { channelIds: ids, accountId, start: false });
      // Telegram takes a second over each send of the cancelled campaigns: some are still in
      // flight when the cancel answers, and must be counted when they complete.
      const few = await addChannels(world, 40, `c${i}`);
      for (const peer of few.peers) slow[peer] = { processingMs: SLOW_MS };
      const cancels: string[] = [];
      for (let j = 0; j < CANCELS_PER_ACCOUNT; j++) {
        cancels.push(await createCampaign(world, { channelIds: few.ids, accountId, start: false }));
      }
      plan.push({ accountId, main, cancels });
    }
    const campaignOfSend = await campaignOf(world);
    const sim = new TelegramSimulator({ latencyMs: [20, 40], targets: slow });
    const worker = await startTestWorker(
      testConfig(world, { accounts: accounts.map((accountId) => ({ accountId })), sendTimeoutMs: 10_000 }),
      { logger: testLogger(), simulator: sim },
    );
    const sendsOf = (campaignId: string): SendRecord[] =>
      sim.sends.filter((s) => !s.duplicate && campaignOfSend.get(s.randomId) === campaignId);
    const stops: Stop[] = [];

    /** Lets SENDS_BETWEEN sends of the campaign through, then stops it with the RPC. */
    const stopMidway = async (client: pg.Client, p: (typeof plan)[number], id: string, action: Stop['action']) => {
      const seen = sendsOf(id).length;
      await waitFor(`sends of ${id}`, async () => sendsOf(id).length >= seen + SENDS_BETWEEN, 30_000, 5);
      await rpc(world, client, `${action}_campaign`, id);
      const stop: Stop = {
        action,
        campaignId: id,
        accountId: p.accountId,
        answeredAt: clock(),
        answeredAtMs: Date.now(),
        until: Number.POSITIVE_INFINITY,
      };
      stops.push(stop);
      return stop;
    };

    await Promise.all(plan.map(async (p) => {
      const client = await world.db.connect();
      await rpc(world, client, 'start_campaign', p.main);
      for (let i = 0; i < PAUSES_PER_ACCOUNT; i++) {
        const stop = await stopMidway(client, p, p.main, 'pause');
        await sleep(300);
        stop.until = clock();
        await rpc(world, client, 'resume_campaign', p.main);
      }
      await waitFor(`${p.main} completed`, async () => (await campaign(world, p.main)).state === 'completed', 60_000);
      for (const id of p.cancels) {
        await rpc(world, client, 'start_campaign', id);
        await stopMidway(client, p, id, 'cancel');
      }
    }));

    // Every send has been recorded once no job of the campaigns is active (a job stays active
    // from its claim until its outcome is recorded): all posts are in the stand-in's log.
    const all = plan.flatMap((p) => [p.main, ...p.cancels]);
    await waitFor('outcomes recorded', async () => {
      const { rows } = await world.sql.query(
        `select count(*)::int as n from pgboss.job where group_id = any ($1::text[]) and state = 'active'`,
        [all],
      );
      return rows[0].n === 0;
    });
    const uncounted = async () => {
      const out: string[] = [];
      for (const id of all) {
        const sent = (await campaign(world, id)).sent_count;
        if (sent !== sendsOf(id).length) out.push(`${id}: ${sendsOf(id).length} posted, ${sent} counted`);
      }
      return out;
    };

    const figures = stops.map((s) => {
      const sends = sendsOf(s.campaignId);
      return {
        ...s,
        after: sends.filter((x) => x.startedAt > s.answeredAt && x.startedAt < s.until).length,
        inFlight: sends.filter((x) => x.startedAt <= s.answeredAt && x.at > s.answeredAtMs).length,
      };
    });
    const after = figures.reduce((n, f) => n + f.after, 0);
    const maxInFlight = Math.max(...figures.map((f) => f.inFlight));
    const inFlight = figures.reduce((n, f) => n + f.inFlight, 0);
    console.log(
      `pause holds: ${figures.filter((f) => f.action === 'pause').length} pauses, ${
        figures.filter((f) => f.action === 'cancel').length
      } cancels on ${ACCOUNTS} accounts; sends started after the answer: ${after} (most after one answer: ${
        Math.max(...figures.map((f) => f.after))
      }); sends in flight at the answer: ${inFlight}, at most ${maxInFlight} per account`,
    );
    expect(figures).toHaveLength(ACCOUNTS * (PAUSES_PER_ACCOUNT + CANCELS_PER_ACCOUNT));
    expect(figures.filter((f) => f.after > 0).map((f) => `${f.action} ${f.campaignId}: ${f.after} after`)).toEqual([]);
    expect(maxInFlight).toBeLessThanOrEqual(worker.config.sendConcurrency);
    // The slow sends of the cancelled campaigns: some completed after the answer (and count).
    expect(figures.filter((f) => f.action === 'cancel').some((f) => f.inFlight > 0)).toBe(true);
    expect(await uncounted()).toEqual([]);
    for (const p of plan) {
      // Resumed every time: each target of the main campaign got its message once.
      expect(await campaign(world, p.main)).toMatchObject({ state: 'completed', sent_count: TARGETS, failed_count: 0 });
      expect(new Set(sendsOf(p.main).map((s) => s.randomId)).size).toBe(TARGETS);
      for (const id of p.cancels) {
        const c = await campaign(world, id);
        expect(c.state).toBe('cancelled');
        expect(c.pending_count).toBe(0);
      }
    }
  }, 180_000);
});
