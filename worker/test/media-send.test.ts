// Media campaigns and test sends through the real worker and the simulator: one upload per
// campaign and account, one media post per target with the delivery's random_id, a refused file
// reference replaced without spending an attempt, a reference kept from before a restart, and a
// test send to Saved Messages that makes no delivery. Files come over HTTP from a small server
// answering the Storage API's object route (the local Storage stand-in is tested with supabase-js
// in supabase/tests/media-client.test.ts). The service role key goes only to the object route:
// a path that climbs out is never fetched, and a download is checked against its declared length
// and Telegram's limits while it arrives.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { mediaObjectUrl, storageMediaSource } from '../src/media.ts';
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
/** Every request the server got, whatever its path: what a refused path must not add to. */
let requests = 0;

beforeAll(async () => {
  storage = createServer((req, res) => {
    requests++;
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

describe('media paths and downloads', () => {
  it("fails a campaign whose stored path climbs into another user's folder, fetching nothing", async () => {
    const w = await createWorld({ ratePerMinute: 60_000 });
    const { ids } = await addChannels(w, 5);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 1000 });
    await startTestWorker(config(w), { logger: testLogger(), simulator: sim });
    const id = await photoCampaign(w, ids);
    // A row written before the checks existed (they refuse it now, so they are set aside here).
    const victim = '00000000-0000-4000-8000-000000000001';
    await w.sql.query('begin');
    await w.sql.query('alter table public.campaigns disable trigger campaigns_media_path');
    await w.sql.query('update public.campaigns set media_path = $2 where id = $1', [id, `${w.userId}/../${victim}/pic.jpg`]);
    await w.sql.query('alter table public.campaigns enable trigger campaigns_media_path');
    await w.sql.query('commit');
    const before = requests;
    await startCampaign(w, id);
    await waitFor('all failed', async () => (await campaign(w, id)).failed_count === 5);
    const { rows } = await w.sql.query('select distinct error_code from public.deliveries where campaign_id = $1', [id]);
    expect(rows).toEqual([{ error_code: 'MEDIA_PATH_INVALID' }]);
    expect(requests - before).toBe(0);
    expect((await sim.store.messages()).filter((m) => m.media)).toEqual([]);
  });

  it('builds the only URL the key goes to from encoded segments, and refuses anything else', () => {
    expect(mediaObjectUrl('https://x.supabase.co/', 'u/a b?(1).jpg').href)
      .toBe('https://x.supabase.co/storage/v1/object/campaign-media/u/a%20b%3F(1).jpg');
    expect(mediaObjectUrl('http://127.0.0.1:8000/api', 'u/ü.png').href)
      .toBe('http://127.0.0.1:8000/api/storage/v1/object/campaign-media/u/%C3%BC.png');
    for (const path of ['u/../v/x', 'u/./x', 'u//x', '/u/x', 'u/%2e%2e/x', 'u/\u202ex', 'u/a\nb', '']) {
      expect(() => mediaObjectUrl('https://x.supabase.co', path), path).toThrow(expect.objectContaining({
        errorMessage: 'MEDIA_PATH_INVALID',
      }));
    }
    for (const url of ['ftp://x', 'not a url', 'https://u:p@x.supabase.co', 'https://x.supabase.co/?a=1']) {
      expect(() => mediaObjectUrl(url, 'u/x.jpg'), url).toThrow(expect.objectContaining({ errorMessage: 'MEDIA_UNCONFIGURED' }));
    }
  });

  it('follows no redirect with the key, and checks the length while reading', async () => {
    let elsewhere = 0;
    let written = 0;
    let endlessClosed!: () => void;
    const closed = new Promise<void>((r) => (endlessClosed = r));
    const files = createServer((req, res) => {
      if (req.url?.endsWith('/redirect.jpg')) return void res.writeHead(302, { location: '/elsewhere' }).end();
      if (req.url === '/elsewhere') elsewhere++;
      if (req.url?.endsWith('/short.jpg')) {
        res.writeHead(200, { 'content-length': 1000 });
        return void res.end(Buffer.alloc(10), () => res.destroy());
      }
      if (!req.url?.endsWith('/endless.jpg')) return void res.writeHead(404).end();
      res.on('close', endlessClosed);
      res.writeHead(200, { 'content-type': 'image/jpeg' }); // chunked: no length declared
      const chunk = Buffer.alloc(1024 * 1024);
      const pump = () => {
        while (written < 64 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    try {
      const source = storageMediaSource(`http://127.0.0.1:${(files.address() as { port: number }).port}`, KEY);
      const code = (path: string) =>
        source.fetch(path, 'photo', 'image/jpeg').then(() => 'fetched', (e: { errorMessage?: string }) => e.errorMessage);
      expect(await code('u/redirect.jpg')).toBe('STORAGE_UNAVAILABLE');
      expect(elsewhere).toBe(0);
      expect(await code('u/short.jpg')).toMatch(/^(MEDIA_LENGTH_MISMATCH|STORAGE_UNAVAILABLE)$/);
      // Over Telegram's 10 MB for a photo: given up as soon as that is passed, not read to the end.
      expect(await code('u/endless.jpg')).toBe('MEDIA_TOO_BIG');
      await closed;
      expect(written).toBeLessThan(32 * 1024 * 1024);
    } finally {
      files.closeAllConnections();
      await new Promise<void>((r) => files.close(() => r()));
    }
  });
});
