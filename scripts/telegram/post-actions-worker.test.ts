// Actions on a campaign's sent posts through the whole worker (TELEGRAM_MODE gramjs) on the
// stand-in over MTProto: every post pinned when sent, edited to a new version, unpinned and
// deleted, each once (the stand-in's calls are counted per method, its channels' histories read
// back); a post the channel deleted itself is reported MESSAGE_ID_INVALID, not retried; deleteAfter
// deletes each post that long after its send.
import { describe, expect, it } from 'vitest';
import type { TelegramClient } from 'telegram';
import { asUser } from '../test/db.ts';
import {
  createCampaign,
  createWorld,
  startCampaign,
  startTestWorker,
  testLogger,
  waitFor,
  waitForState,
  type World,
} from '../../worker/test/fixtures.ts';
import { TelegramModel } from './model/model.ts';
import { history, inputChannel, signedIn, testPhone, useStandIn } from './testing.ts';
import { sessionConfig, standInChannels } from '../../worker/test/stand-in-accounts.ts';
import { Api } from 'telegram';

const model = new TelegramModel();
const { standIn, track } = useStandIn({ model });

/** Calls of each after-send method the stand-in answered (or refused) from now on. */
function countCalls(): Record<string, number> {
  const calls: Record<string, number> = {};
  model.faults.clear();
  for (const method of ['messages.editMessage', 'channels.deleteMessages', 'messages.updatePinnedMessage']) {
    model.faults.add({ method, onMatch: () => void (calls[method] = (calls[method] ?? 0) + 1) });
  }
  return calls;
}

async function startWorkerOn(w: World, owner: TelegramClient) {
  await startTestWorker(sessionConfig(standIn(), w, owner), { logger: testLogger() });
}

const names = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}_${i}`);

const rpc = (w: World, sql: string, params: unknown[]) => asUser(w.sql, w.userId, (t) => t.query(sql, params));

async function actionCounts(w: World, id: string) {
  const { rows } = await w.sql.query('select action_counts from public.campaigns where id = $1', [id]);
  return rows[0].action_counts;
}

/** Waits until no action of the campaign is pending and returns its counts. */
const settled = (w: World, id: string, what: string) =>
  waitFor(what, async () => {
    const c = await actionCounts(w, id);
    return c.pending === 0 ? c : undefined;
  }, 60_000);

const posts = async (owner: TelegramClient, created: Api.Channel[]) =>
  (await Promise.all(created.map((ch) => history(owner, ch)))).flat();

describe('actions on sent posts through the worker on the stand-in', () => {
  it('pins each post at send, edits every post once to the new version, unpins and deletes them', async () => {
    const N = 20;
    const w = await createWorld({ ratePerMinute: 1200 });
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const { created, ids } = await standInChannels(w, owner, names(N, 'acts'));
    await startWorkerOn(w, owner);
    const calls = countCalls();
    const id = await createCampaign(w, { channelIds: ids, text: 'v1 <b>typo</b>', parseMode: 'html', start: false });
    await rpc(w, `select public.set_post_actions($1, '{"pin":{"silent":true}}')`, [id]);
    await startCampaign(w, id);
    await waitForState(w, id, 'completed', 60_000);
    expect(await settled(w, id, 'pins')).toMatchObject({ pinned: N, failed: {} });
    expect((await posts(owner, created)).map((m) => [m.message, m.pinned])).toEqual(Array(N).fill(['v1 typo', true]));

    // The channel's own admin deletes one post: its edit is reported, not retried.
    const [gone] = await history(owner, created[0]!);
    await owner.invoke(new Api.channels.DeleteMessages({ channel: inputChannel(created[0]!), id: [gone!.id] }));
    await rpc(w, `select public.edit_campaign_message($1, $2::jsonb)`, [id, JSON.stringify({ text: 'v2 <b>fixed</b>' })]);
    expect(await settled(w, id, 'edits')).toMatchObject({ edited: N - 1, failed: { edit: { MESSAGE_ID_INVALID: 1 } } });
    const edited = await posts(owner, created);
    expect(edited.map((m) => [m.message, !!m.editDate])).toEqual(Array(N - 1).fill(['v2 fixed', true]));
    // one call per post: no post edited twice, the deleted one asked once
    expect(calls['messages.editMessage']).toBe(N);

    await rpc(w, `select public.set_post_actions($1, '{"pin":null}')`, [id]);
    expect(await settled(w, id, 'unpins')).toMatchObject({ unpinned: N - 1, failed: { unpin: { MESSAGE_ID_INVALID: 1 } } });
    expect((await posts(owner, created)).some((m) => m.pinned)).toBe(false);

    await rpc(w, 'select public.delete_campaign_posts($1)', [id]);
    // deleting a post that is gone deletes nothing and is no error
    expect(await settled(w, id, 'deletes')).toMatchObject({ deleted: N });
    expect(await posts(owner, created)).toEqual([]);
    expect(calls).toEqual({
      'messages.editMessage': N,
      'messages.updatePinnedMessage': 2 * N,
      'channels.deleteMessages': N + 1, // the channel admin's own delete above, and one per post
    });
    const rows = await w.sql.query(
      `select kind, state, count(*)::int as n from public.delivery_actions where campaign_id = $1 group by 1, 2 order by 1, 2`,
      [id],
    );
    expect(rows.rows).toEqual([
      { kind: 'delete', state: 'done', n: N },
      { kind: 'edit', state: 'done', n: N - 1 },
      { kind: 'edit', state: 'failed', n: 1 },
      { kind: 'pin', state: 'done', n: N },
      { kind: 'unpin', state: 'done', n: N - 1 },
      { kind: 'unpin', state: 'failed', n: 1 },
    ]);
  }, 120_000);

  it('deleteAfter: each post is deleted that long after it was sent', async () => {
    const w = await createWorld({ ratePerMinute: 1200 });
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const { created, ids } = await standInChannels(w, owner, names(3, 'gone'));
    await startWorkerOn(w, owner);
    const id = await createCampaign(w, { channelIds: ids, text: 'paid post', start: false });
    await rpc(w, `select public.set_post_actions($1, '{"deleteAfter":"PT3S"}')`, [id]);
    await startCampaign(w, id);
    await waitForState(w, id, 'completed', 60_000);
    // still there right after the send
    expect((await posts(owner, created)).length).toBe(3);
    expect(await settled(w, id, 'deletes')).toMatchObject({ deleted: 3 });
    expect(await posts(owner, created)).toEqual([]);
    const { rows } = await w.sql.query(
      `select extract(epoch from a.done_at - d.sent_at) as s from public.delivery_actions a
       join public.deliveries d on d.id = a.delivery_id where a.campaign_id = $1`,
      [id],
    );
    for (const r of rows) expect(Number(r.s)).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
