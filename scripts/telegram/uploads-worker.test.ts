// Photo campaigns through the whole worker (TELEGRAM_MODE gramjs, its session, TELEGRAM_SERVER
// naming the stand-in) on the stand-in over MTProto: the file comes from a small server answering
// Storage's object route, is uploaded once per campaign and account, and each target gets one
// post; an expired file reference and FLOOD_PREMIUM_WAIT_X on the upload are met on the way.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelegramClient } from 'telegram';
import { asUser } from '../test/db.ts';
import {
  createCampaign,
  createWorld,
  deliveryCounts,
  startCampaign,
  startTestWorker,
  testLogger,
  waitForState,
  type World,
} from '../../worker/test/fixtures.ts';
import { sessionConfig, standInChannels } from '../../worker/test/stand-in-accounts.ts';
import { TelegramModel } from './model/model.ts';
import { history, signedIn, testPhone, useStandIn } from './testing.ts';

const KEY = 'service-role-key-for-this-test';
const PHOTO = Buffer.alloc(700 * 1024, 7); // two upload parts
let offsetMs = 0;
const model = new TelegramModel({ now: () => Date.now() + offsetMs });
const { standIn, track } = useStandIn({ model });

let storage: Server;
let storageUrl: string;
let fetches = 0;
beforeAll(async () => {
  storage = createServer((req, res) => {
    const ok = req.headers.authorization === `Bearer ${KEY}` && /\/campaign-media\/[^/]+\/pic\.jpg$/.test(req.url ?? '');
    fetches += ok ? 1 : 0;
    res.writeHead(ok ? 200 : 404, { 'content-length': ok ? PHOTO.length : 0 });
    res.end(ok ? PHOTO : undefined);
  });
  await new Promise<void>((r) => storage.listen(0, '127.0.0.1', () => r()));
  storageUrl = `http://127.0.0.1:${(storage.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => storage.close(() => r())));

/** The worker in gramjs mode with `owner`'s session, on the stand-in, reading files from the server above. */
function startWorkerOn(w: World, owner: TelegramClient) {
  return startTestWorker(sessionConfig(standIn(), w, owner, { supabaseUrl: storageUrl, serviceRoleKey: KEY }), {
    logger: testLogger(),
  });
}

/** A started photo campaign (pic.jpg in the user's folder) to the channels. */
async function photoCampaign(w: World, channelIds: string[]): Promise<string> {
  await w.sql.query(
    `insert into storage.objects (bucket_id, name, owner_id, metadata) values ('campaign-media', $1, $2, $3)`,
    [`${w.userId}/pic.jpg`, w.userId, { mimetype: 'image/jpeg', size: PHOTO.length }],
  );
  const message = { text: 'a <b>photo</b>', parseMode: 'html', media: { path: `${w.userId}/pic.jpg`, kind: 'photo' } };
  const id = await asUser(w.sql, w.userId, async (t) =>
    (await t.query(
      `select id from public.create_campaign(p_name => 'photo', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
      [channelIds, JSON.stringify(message)],
    )).rows[0].id);
  await startCampaign(w, id);
  return id;
}

const maxAttempts = async (w: World, id: string) =>
  (await w.sql.query('select max(attempts)::int as n from public.deliveries where campaign_id = $1', [id])).rows[0].n;

/** Counts the parts the stand-in is asked to save from now on. */
function countParts(): () => number {
  let n = 0;
  model.faults.clear();
  model.faults.add({ method: 'upload.saveFilePart', onMatch: () => n++ });
  return () => n;
}

describe('photo campaigns through the worker on the stand-in', () => {
  it('posts one photo per target; a file reference expired at the first send is replaced by one new upload', async () => {
    const w = await createWorld();
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const targets = await standInChannels(w, owner, ['photos_one', 'photos_two']);
    fetches = 0;
    const parts = countParts();
    const expire = () => (offsetMs += model.media.config.fileReferenceTtlMs);
    model.faults.add({ method: 'messages.sendMedia', onMatch: expire, times: 1 });
    await startWorkerOn(w, owner);
    const id = await photoCampaign(w, targets.ids);
    await waitForState(w, id, 'completed', 60_000);
    expect(await deliveryCounts(w, id)).toEqual({ sent: 2 });
    expect([await maxAttempts(w, id), fetches, parts()]).toEqual([1, 2, 4]);
    for (const ch of targets.created) {
      const posted = await history(owner, ch);
      expect(posted.map((m) => [m.message, m.media?.className])).toEqual([['a photo', 'MessageMediaPhoto']]);
    }
  });

  it('FLOOD_PREMIUM_WAIT_X: the upload resumes at the refused part after the wait; text goes on, nothing pauses', async () => {
    const w = await createWorld();
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const photos = await standInChannels(w, owner, ['throttled_one', 'throttled_two']);
    const texts = await standInChannels(w, owner, ['plain_one', 'plain_two']);
    fetches = 0;
    const parts = countParts();
    // One 512 KB part per 2 s: the photo's second part waits, and a file started over would be refused there every time.
    model.media.config.premiumWait = { bytes: 512 * 1024, ms: 2_000 };
    try {
      const worker = await startWorkerOn(w, owner);
      const photoId = await photoCampaign(w, photos.ids);
      const textId = await createCampaign(w, { channelIds: texts.ids });
      await waitForState(w, textId, 'completed', 30_000);
      await waitForState(w, photoId, 'completed', 30_000);
      expect([await deliveryCounts(w, photoId), await deliveryCounts(w, textId)]).toEqual([{ sent: 2 }, { sent: 2 }]);
      expect([await maxAttempts(w, photoId), fetches, parts()]).toEqual([1, 2, 3]);
      expect(worker.accounts()[0]!.status).toBe('running');
    } finally {
      delete model.media.config.premiumWait;
    }
  });
});
