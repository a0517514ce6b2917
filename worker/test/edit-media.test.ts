// Editing a photo campaign's posts to a new photo and caption through the whole worker
// (TELEGRAM_MODE gramjs, the account's session) on the MTProto stand-in: the new file is fetched
// from Storage and uploaded once for the new version, every post is edited once with
// messages.editMessage's `media`, and the channels' history shows the new photo and caption.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { asUser } from '../../scripts/test/db.ts';
import { history, signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { TelegramModel } from '../../scripts/telegram/model/model.ts';
import {
  addChannels,
  createWorld,
  startCampaign,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
  type World,
} from './fixtures.ts';
import { sessionConfig, standInChannels } from './stand-in-accounts.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';

const model = new TelegramModel();
const { standIn, track } = useStandIn({ model });
/** Calls the stand-in got (the first matching rule counts a call: one rule per method, for every test). */
const calls = { uploads: 0, edits: 0 };
model.faults.add({ method: 'messages.uploadMedia', onMatch: () => void calls.uploads++ });
model.faults.add({ method: 'messages.editMessage', onMatch: () => void calls.edits++ });

const KEY = 'service-role-key-for-this-test';
const FILES: Record<string, Buffer> = { 'v1.jpg': Buffer.alloc(3000, 1), 'v2.jpg': Buffer.alloc(4000, 2) };
const fetched: string[] = [];
let storage: Server;
let storageUrl: string;

beforeAll(async () => {
  storage = createServer((req, res) => {
    const name = /^\/storage\/v1\/object\/campaign-media\/[^/]+\/([^/]+)$/.exec(req.url ?? '')?.[1] ?? '';
    const file = req.headers.authorization === `Bearer ${KEY}` ? FILES[name] : undefined;
    if (file) fetched.push(name);
    res.writeHead(file ? 200 : 404, { 'content-type': 'image/jpeg', 'content-length': file?.length ?? 2 });
    res.end(file ?? '{}');
  });
  await new Promise<void>((r) => storage.listen(0, '127.0.0.1', () => r()));
  storageUrl = `http://127.0.0.1:${(storage.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => storage.close(() => r())));

async function photoCampaign(w: World, channelIds: string[]): Promise<string> {
  for (const [name, bytes] of Object.entries(FILES)) {
    await w.sql.query(
      `insert into storage.objects (bucket_id, name, owner_id, metadata) values ('campaign-media', $1, $2, $3)`,
      [`${w.userId}/${name}`, w.userId, { mimetype: 'image/jpeg', size: bytes.length }],
    );
  }
  return asUser(w.sql, w.userId, async (t) =>
    (await t.query(
      `select id from public.create_campaign(p_name => 'photo', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
      [channelIds, JSON.stringify({ text: 'first', parseMode: 'plain', media: { path: `${w.userId}/v1.jpg`, kind: 'photo' } })],
    )).rows[0].id);
}

const editTo = (w: World, id: string, name: string) =>
  asUser(w.sql, w.userId, (t) =>
    t.query('select public.edit_campaign_message($1, $2::jsonb)', [
      id,
      JSON.stringify({ text: 'second, with a new photo', media: { path: `${w.userId}/${name}`, kind: 'photo' } }),
    ]));

const edited = (w: World, id: string, n: number) =>
  waitFor('every post edited', async () => {
    const { rows } = await w.sql.query(`select (action_counts ->> 'edited')::int as n from public.campaigns where id = $1`, [id]);
    return rows[0].n === n || undefined;
  }, 30_000);

const photoOf = (m: Api.Message) => (m.media instanceof Api.MessageMediaPhoto ? String(m.media.photo?.id) : null);

describe('editing the media of sent posts on the stand-in', () => {
  it("edits a photo campaign's posts to a new photo and caption: one upload per version, each post edited once", async () => {
    const w = await createWorld({ ratePerMinute: 6000 });
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const config = sessionConfig(standIn(), w, owner, {
      sendTimeoutMs: 10_000,
      pollingSeconds: 0.5,
      supabaseUrl: storageUrl,
      serviceRoleKey: KEY,
    });
    await startTestWorker(config, { logger: testLogger() });
    const { created, ids } = await standInChannels(w, owner, ['em_one', 'em_two', 'em_three']);
    const id = await photoCampaign(w, ids);
    await startCampaign(w, id);
    await waitForState(w, id, 'completed', 60_000);
    const sent = (await Promise.all(created.map((ch) => history(owner, ch)))).flat();
    const first = new Set(sent.map(photoOf));
    expect(first.size).toBe(1);
    expect([calls.uploads, fetched]).toEqual([1, ['v1.jpg']]);

    await editTo(w, id, 'v2.jpg');
    await edited(w, id, 3);

    const after = (await Promise.all(created.map((ch) => history(owner, ch)))).flat();
    expect(after.map((m) => m.message)).toEqual(Array(3).fill('second, with a new photo'));
    const second = new Set(after.map(photoOf));
    expect(second.size).toBe(1);
    expect(first.has([...second][0]!)).toBe(false);
    expect(after.every((m) => m.editDate)).toBe(true);
    expect(calls).toEqual({ uploads: 2, edits: 3 });
    expect(fetched).toEqual(['v1.jpg', 'v2.jpg']);
    const refs = await w.sql.query('select ref from private.campaign_media_refs where campaign_id = $1', [id]);
    expect(refs.rows).toHaveLength(1);
  }, 120_000);

  it('edited while sending: posts sent before get the new photo by an edit, the pending ones are sent with it', async () => {
    const w = await createWorld({ ratePerMinute: 60 }); // one post a second
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const before = { ...calls };
    const config = sessionConfig(standIn(), w, owner, { pollingSeconds: 0.5, supabaseUrl: storageUrl, serviceRoleKey: KEY });
    await startTestWorker(config, { logger: testLogger() });
    const { created, ids } = await standInChannels(w, owner, ['ems_1', 'ems_2', 'ems_3', 'ems_4', 'ems_5', 'ems_6']);
    const id = await photoCampaign(w, ids);
    await startCampaign(w, id);
    await waitFor('one sent', async () => {
      const { rows } = await w.sql.query('select sent_count from public.campaigns where id = $1', [id]);
      return rows[0].sent_count >= 1 || undefined;
    }, 30_000);
    await editTo(w, id, 'v2.jpg');
    await waitForState(w, id, 'completed', 60_000);
    await waitFor('no edit pending', async () => {
      const { rows } = await w.sql.query(`select (action_counts ->> 'pending')::int as n from public.campaigns where id = $1`, [
        id,
      ]);
      return rows[0].n === 0 || undefined;
    }, 30_000);
    const posts = (await Promise.all(created.map((ch) => history(owner, ch)))).flat();
    expect(posts).toHaveLength(6);
    expect(posts.map((m) => m.message)).toEqual(Array(6).fill('second, with a new photo'));
    expect(new Set(posts.map(photoOf)).size).toBe(1);
    const { rows } = await w.sql.query(
      `select count(*) filter (where x.kind = 'edit' and x.state = 'done')::int as edits,
         (select count(*)::int from public.deliveries where campaign_id = $1 and state = 'sent') as sent
       from public.delivery_actions x where x.campaign_id = $1`,
      [id],
    );
    // at least the post sent before the edit was edited; the rest went out with the new photo
    expect(rows[0].sent).toBe(6);
    expect(rows[0].edits).toBeGreaterThanOrEqual(1);
    expect(rows[0].edits).toBeLessThan(6);
    console.log(`edited while sending: ${rows[0].edits} of 6 posts edited, ${6 - rows[0].edits} sent with the new photo`);
    expect(calls.uploads - before.uploads).toBe(2);
    expect(calls.edits - before.edits).toBe(rows[0].edits);
  }, 120_000);

  it('on the simulator: one more upload, each post edited once with the new file', async () => {
    const w = await createWorld({ ratePerMinute: 60_000 });
    const { ids } = await addChannels(w, 20);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 1000 });
    await startTestWorker(testConfig(w, { supabaseUrl: storageUrl, serviceRoleKey: KEY }), {
      logger: testLogger(),
      simulator: sim,
    });
    const id = await photoCampaign(w, ids);
    await startCampaign(w, id);
    await waitForState(w, id, 'completed', 20_000);
    expect(sim.media.uploads).toHaveLength(1);
    await editTo(w, id, 'v2.jpg');
    await edited(w, id, 20);
    expect(sim.media.uploads).toHaveLength(2);
    const edits = (await sim.store.actions()).filter((a) => a.kind === 'edit');
    expect(new Set(edits.map((a) => a.messageId)).size).toBe(20);
    expect(edits).toHaveLength(20);
  });
});
