// Test sends through the real worker and the simulator: tests asked together keep the account's
// pace (counted from the simulator's post times); a test whose slot would come more than 60 s
// after it was asked for is recorded expired and never posted, and one whose account entered a
// FLOOD_WAIT while it waited for its slot is not sent either.
import { describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addChannels,
  createCampaign,
  createWorld,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  type World,
} from './fixtures.ts';

/**
 * Asks for `n` test sends of the campaign in one transaction, as its owner; returns their ids.
 * askedAgo: seconds to date them back, in the same transaction (before the worker can see them).
 */
async function askTests(w: World, campaignId: string, n: number, askedAgo = 0): Promise<string[]> {
  return asUser(w.sql, w.userId, async (c) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await c.query('select id from public.test_campaign($1)', [campaignId])).rows[0].id);
    if (askedAgo) {
      await c.query(`select set_config('role', 'postgres', true)`);
      await c.query(`update public.campaign_test_sends set created_at = now() - make_interval(secs => $2) where id = any($1)`, [
        ids,
        askedAgo,
      ]);
    }
    return ids;
  });
}

const settled = (w: World, ids: string[]) =>
  waitFor('tests settled', async () => {
    const { rows } = await w.sql.query(
      `select id, state, error_code from public.campaign_test_sends where id = any($1::uuid[]) and state <> 'pending'`,
      [ids],
    );
    return rows.length === ids.length && rows;
  }, 30_000);

async function savedMessages(sim: TelegramSimulator): Promise<number[]> {
  return (await sim.store.messages()).filter((m) => m.peer === 'me').map((m) => m.at.getTime()).sort((x, y) => x - y);
}

describe('test sends and the pace', () => {
  it('tests asked together go out one slot apart (30/min: never two within a second)', async () => {
    const w = await createWorld({ ratePerMinute: 30 });
    const { ids } = await addChannels(w, 1);
    const id = await createCampaign(w, { channelIds: ids, start: false });
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    await startTestWorker(testConfig(w), { logger: testLogger(), simulator: sim });
    const tests = await askTests(w, id, 3);
    expect((await settled(w, tests)).map((r) => r.state)).toEqual(['sent', 'sent', 'sent']);
    const at = await savedMessages(sim);
    expect(at).toHaveLength(3);
    // Slots are 2 s apart; a late timer may shorten the next gap, never below a second.
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(1000);
  });

  it('a test whose slot comes after its 60 s is recorded expired and never posted', async () => {
    const w = await createWorld({ ratePerMinute: 6 });
    const { ids } = await addChannels(w, 1);
    const id = await createCampaign(w, { channelIds: ids, start: false });
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    await startTestWorker(testConfig(w), { logger: testLogger(), simulator: sim });
    const [first] = await askTests(w, id, 1);
    expect(await settled(w, [first!])).toMatchObject([{ state: 'sent' }]);
    // Asked 55 s ago (its job is new, so the worker takes it up): its slot is 10 s after the
    // first send, past its 60 s.
    const [late] = await askTests(w, id, 1, 55);
    expect(await settled(w, [late!])).toMatchObject([{ state: 'failed', error_code: 'TEST_EXPIRED' }]);
    expect(await savedMessages(sim)).toHaveLength(1);
  });

  it('a test whose account enters a FLOOD_WAIT while it waits for its slot is not sent', async () => {
    const w = await createWorld({ ratePerMinute: 20 });
    const { ids } = await addChannels(w, 1);
    const id = await createCampaign(w, { channelIds: ids, start: false });
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    await startTestWorker(testConfig(w), { logger: testLogger(), simulator: sim });
    const [first, second] = await askTests(w, id, 2);
    expect(await settled(w, [first!])).toMatchObject([{ state: 'sent' }]);
    // The second waits 3 s for its slot; the worker reads the account's FLOOD_WAIT within 1 s.
    await w.sql.query('select public.worker_flood_wait($1, 30)', [w.accountId]);
    expect(await settled(w, [second!])).toMatchObject([{ state: 'failed', error_code: 'ACCOUNT_NOT_SENDING' }]);
    expect(await savedMessages(sim)).toHaveLength(1);
  });
});
