// Pause and cancel hold for actions on sent posts as they do for sends: once the owner's pause or
// cancel has answered, no edit of the campaign's posts starts (the worker holds lookaheadSeconds
// of the account's pace of claimed work: here more than a stop waits, so held edits outlast it).
// Checked from the stand-in's own record of when each edit request
// reached it, against the moment the RPC answered (after its commit).
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { clock } from '../src/pacing.ts';
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

const TARGETS = 700;
/** Posts sent before the edit: those the edit runs over while the campaign still sends. */
const SENT_BEFORE_EDIT = 300;
const PAUSES = 2;
/** Edits to let through before each stop (the stop lands mid-edit). */
const EDITS_BETWEEN = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rpc(w: World, client: pg.Client, fn: string, id: string): Promise<void> {
  await asUser(client, w.userId, (t) => t.query(`select public.${fn}($1)`, [id]));
}

const counts = async (w: World, id: string) =>
  (await w.sql.query('select sent_count, state, action_counts from public.campaigns where id = $1', [id])).rows[0];

describe('pause and cancel hold for actions on posts', () => {
  it('no edit starts after a pause or cancel answered; each post edited once', async () => {
    const world = await createWorld({ ratePerMinute: 2400 });
    const { ids } = await addChannels(world, TARGETS);
    const sim = new TelegramSimulator({ latencyMs: [20, 40] });
    await startTestWorker(testConfig(world, { lookaheadSeconds: 4 }), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids, text: 'v1' });
    await waitFor('posts sent', async () => (await counts(world, id)).sent_count >= SENT_BEFORE_EDIT, 60_000);
    const client = await world.db.connect();
    await asUser(client, world.userId, (t) => t.query(`select public.edit_campaign_message($1, '{"text":"v2"}')`, [id]));

    const edits = () => sim.actionCalls.filter((c) => c.method === 'messages.EditMessage');
    /** Windows from a stop's answer until the owner resumed: no edit may start in one. */
    const windows: Array<{ from: number; until: number }> = [];
    const stopMidEdit = async (fn: string) => {
      const seen = edits().length;
      await waitFor('edits running', async () => edits().length >= seen + EDITS_BETWEEN, 30_000, 5);
      await rpc(world, client, fn, id);
      const from = clock();
      windows.push({ from, until: Number.POSITIVE_INFINITY });
      return windows.at(-1)!;
    };
    for (let i = 0; i < PAUSES; i++) {
      const w = await stopMidEdit('pause_campaign');
      await sleep(500);
      w.until = clock();
      await rpc(world, client, 'resume_campaign', id);
    }
    await stopMidEdit('cancel_campaign');
    // Every claimed edit has been recorded once no job is active (held ones go back, in-flight finish).
    await waitFor('outcomes recorded', async () => {
      const { rows } = await world.sql.query(`select count(*)::int as n from pgboss.job where state = 'active'`);
      return rows[0].n === 0;
    });
    await client.end();

    const after = windows.map((w) => edits().filter((c) => c.startedAt > w.from && c.startedAt < w.until).length);
    const c = await counts(world, id);
    console.log(
      `actions hold: ${edits().length} edit requests, ${c.action_counts.edited} edited; started after a stop answered: ${
        after.join(', ')
      }`,
    );
    expect(after).toEqual(windows.map(() => 0));
    // Stopped mid-edit: some posts edited, the cancel left the rest unedited; none twice.
    const done = (await sim.store.actions()).filter((a) => a.kind === 'edit');
    expect(new Set(done.map((a) => `${a.chatId}|${a.messageId}`)).size).toBe(done.length);
    expect(done.length).toBe(c.action_counts.edited);
    expect(c.action_counts.edited).toBeGreaterThan(0);
    expect(c.action_counts.edited).toBeLessThan(SENT_BEFORE_EDIT);
  }, 180_000);
});
