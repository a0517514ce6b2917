// Media campaigns and test sends through the real worker and the simulator: one upload per
// campaign and account, one media post per target with the delivery's random_id, a refused file
// reference replaced without spending an attempt, a reference kept from before a restart, and a
// test send to Saved Messages that makes no delivery. Files come over HTTP from a small server
// answering the Storage API's object route (the local Storage stand-in is tested with supabase-js
// in supabase/tests/media-client.test.ts).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addChannels,
  campaign,
  createWorld,
  startCampaign,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
  type World,
} from './fixtures.ts';

const KEY = 'service-role-key-for-this-test';
const PHOTO = Buffer.alloc(700 * 1024, 7); // two upload parts
let storage: Server;
let storageUrl: string;
let fetches = 0;

beforeAll(async () => {
  storage = createServer((req, res) => {
    const ok = req.headers.authorization === `Bearer ${KEY}` &&
      /^\/storage\/v1\/object\/campaign-media\/[^/]+\/pic\.jpg$/.test(req.url ?? '');
    if (ok) fetches++;
    res.writeHead(ok ? 200 : 404, {
      'content-type': ok ? 'image/jpeg' : 'application/json',
      'content-length': ok ? PHOTO.length : 2,
    });
    res.end(ok ? PHOTO : '{}');
  });
  await new Promise<void>((r) => storage.listen(0, '127.0.0.1', () => r()));
  storageUrl = `http://127.0.0.1:${(storage.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => storage.close(() => r())));

async function photoCampaign(w: World, channelIds: string[]): Promise<string> {
  await w.sql.query(
    `insert into storage.objects (bucket_id, name, owner_id, metadata) values ('campaign-media', $1, $2, $3)
    on conflict do nothing`,
    [`${w.userId}/pic.jpg`, w.userId, { mimetype: 'image/jpeg', size: PHOTO.length }],
  );
  return asUser(w.sql, w.userId, async (t) =>
    (await t.query(
      `select id from public.create_campaign(p_name => 'photo', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
      [
        channelIds,
        JSON.stringify({ text: 'Look <b>here</b>', parseMode: 'html', media: { path: `${w.userId}/pic.jpg`, kind: 'photo' } }),
      ],
    )).rows[0].id);
}

const config = (w: World) => testConfig(w, { supabaseUrl: storageUrl, serviceRoleKey: KEY });

describe('media campaigns', () => {
  it('uploads once per campaign and account and posts one photo per target, each attempt once', async () => {
    const w = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(w, 40);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 1000 });
    await startTestWorker(config(w), { logger: testLogger(), simulator: sim });
    const before = fetches;
    const id = await photoCampaign(w, ids);
    await startCampaign(w, id);
    await waitForState(w, id, 'completed', 20_000);
    expect(await campaign(w, id)).toMatchObject({ total_count: 40, sent_count: 40, failed_count: 0 });
    expect(sim.media.uploads).toMatchObject([{ accountId: w.accountId, kind: 'photo', bytes: PHOTO.length }]);
    expect(fetches - before).toBe(1);
    const posts = (await sim.store.messages()).filter((m) => m.media === 'photo');
    expect(posts.map((m) => m.peer).sort()).toEqual(peers);
    const { rows } = await w.sql.query(
      `select d.random_id::text from public.deliveries d where campaign_id = $1 and attempts = 1 and state = 'sent'`,
      [id],
    );
    expect(new Set(posts.map((m) => m.randomId))).toEqual(new Set(rows.map((r) => r.random_id)));
    const refs = await w.sql.query('select account_id from private.campaign_media_refs where campaign_id = $1', [id]);
    expect(refs.rows).toEqual([{ account_id: w.accountId }]);
  });

  it('uploads again when Telegram refuses the file reference, without spending an attempt', async () => {
    const w = await createWorld({ ratePerMinute: 1200 });
    const { ids } = await addChannels(w, 30);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 1000 });
    await startTestWorker(config(w), { logger: testLogger(), simulator: sim });
    const id = await photoCampaign(w, ids);
    await startCampaign(w, id);
    await waitFor('some sent', async () => (await campaign(w, id)).sent_count >= 10);
    sim.media.expireAll();
    await waitForState(w, id, 'completed', 20_000);
    expect(await campaign(w, id)).toMatchObject({ sent_count: 30, failed_count: 0 });
    expect(sim.media.uploads).toHaveLength(2);
    const { rows } = await w.sql.query('select max(attempts)::int as m from public.deliveries where campaign_id = $1', [id]);
    expect(rows[0].m).toBe(1);
    const counts = await sim.countsByPeer();
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});

describe('test sends', () => {
  it('posts to Saved Messages, makes no delivery, and a restarted worker replaces the reference Telegram no longer knows', async () => {
    const w = await createWorld({ ratePerMinute: 60_000 });
    const { ids } = await addChannels(w, 3);
    const first = new TelegramSimulator({ accountPerSecond: 10_000 });
    const worker = await startTestWorker(config(w), { logger: testLogger(), simulator: first });
    const id = await photoCampaign(w, ids);
    const sent = await testSend(w, id);
    expect(sent).toMatchObject({ state: 'sent', peer: 'me' });
    expect((await first.store.messages()).filter((m) => m.peer === 'me')).toMatchObject([{
      media: 'photo',
      messageId: Number(sent.telegram_message_id),
    }]);
    expect(await campaign(w, id)).toMatchObject({ state: 'draft', sent_count: 0, total_count: 3 });
    await worker.stop();

    // A new process on a Telegram that never saw the upload: the stored reference is refused.
    const second = new TelegramSimulator({ accountPerSecond: 10_000 });
    await startTestWorker(config(w), { logger: testLogger(), simulator: second });
    expect(await testSend(w, id)).toMatchObject({ state: 'sent' });
    expect(second.media.uploads).toHaveLength(1);
  });
});

async function testSend(w: World, campaignId: string) {
  const t = await asUser(
    w.sql,
    w.userId,
    async (c) => (await c.query('select id from public.test_campaign($1)', [campaignId])).rows[0],
  );
  return waitFor('test settled', async () => {
    const { rows } = await w.sql.query(`select * from public.campaign_test_sends where id = $1 and state <> 'pending'`, [t.id]);
    return rows[0];
  }, 15_000);
}
