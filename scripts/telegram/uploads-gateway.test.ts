// The worker's real GramJS gateway and its per-account media (worker/src/account/media.ts) against
// the stand-in's upload rules over MTProto: parts and big files, sends by reference with the
// delivery's random_id, an expired file reference replaced by a new upload, FLOOD_PREMIUM_WAIT_X
// on uploads only, and parts Telegram no longer holds saved again. The model's clock is moved on
// by the tests.
import { describe, expect, it } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import { AccountMedia } from '../../worker/src/account/media.ts';
import type { ClaimRow } from '../../worker/src/db.ts';
import { classify, isStaleMedia } from '../../worker/src/errors.ts';
import { createTelegramClient, GramJsGateway } from '../../worker/src/gateway/gramjs-gateway.ts';
import type { MediaFile, ResolvedPeer } from '../../worker/src/gateway/types.ts';
import { TelegramModel } from './model/model.ts';
import { createChannel, history, signedIn, testPhone, useStandIn } from './testing.ts';

const KB = 1024;
let offsetMs = 0;
const model = new TelegramModel({ now: () => Date.now() + offsetMs });
const { standIn, track } = useStandIn({ model });

/** An account signed in through MTProto, its channel, and the worker's gateway started from its saved session. */
async function world(): Promise<
  { gateway: GramJsGateway; peer: ResolvedPeer; channel: Api.Channel; login: TelegramClient }
> {
  const s = standIn();
  model.faults.clear();
  const login = track(await signedIn(s, testPhone(2)));
  const username = `media_${Math.random().toString(36).slice(2, 10)}`;
  const channel = await createChannel(login, { username });
  const session = login.session.save() as unknown as string;
  // The worker's own client for a stored session on a server given as TELEGRAM_SERVER gives it.
  const server = { dcs: s.dcs, publicKeyPem: s.publicKeyPem };
  const gateway = new GramJsGateway(createTelegramClient({ session, apiId: s.apiId, apiHash: s.apiHash, server }));
  track(gateway.client);
  await gateway.start();
  return { gateway, peer: await gateway.resolvePeer(`@${username}`), channel, login };
}

const photo = (size: number, fill = 1): MediaFile => ({
  kind: 'photo',
  name: 'pic.jpg',
  mimeType: 'image/jpeg',
  bytes: Buffer.alloc(size, fill),
});
const message = (peer: ResolvedPeer, text: string, randomId: string) => ({
  peer,
  text,
  parseMode: 'plain' as const,
  silent: false,
  linkPreview: true,
  randomId,
});

/** Counts the calls of `method` the stand-in gets from now on. */
function counter(method: string): () => number {
  let n = 0;
  model.faults.add({ method, onMatch: () => n++ });
  return () => n;
}

/** What the gateway's call threw, classified as the worker does. */
async function failure(call: Promise<unknown>) {
  try {
    await call;
  } catch (err) {
    return { err, classified: classify(err) };
  }
  throw new Error('the call succeeded');
}

describe('the worker gateway uploads and sends media on the stand-in', () => {
  it('uploads a photo in 512 KB parts and a file over 10 MB in big parts, and sends both by reference', async () => {
    const { gateway, peer, login, channel } = await world();
    const parts = counter('upload.saveFilePart');
    const bigParts = counter('upload.saveBigFilePart');
    const pic = await gateway.uploadMedia(photo(700 * KB));
    const doc = await gateway.uploadMedia({
      kind: 'document',
      name: 'big.zip',
      mimeType: 'application/zip',
      bytes: Buffer.alloc(10 * 1024 * KB + 1),
    });
    expect([parts(), bigParts()]).toEqual([2, 21]);
    await gateway.send({ ...message(peer, 'a photo', '101'), media: pic });
    await gateway.send({ ...message(peer, 'a file', '102'), media: doc });
    const posted = await history(login, channel);
    expect(posted.map((m) => [m.message, m.media?.className])).toEqual([
      ['a file', 'MessageMediaDocument'],
      ['a photo', 'MessageMediaPhoto'],
    ]);
  });

  it('an expired file reference is stale media: AccountMedia uploads again and the send goes through with its random_id', async () => {
    const { gateway, peer, login, channel } = await world();
    const source = { fetches: 0, fetch: async () => (source.fetches++, photo(600 * KB, 2)) };
    const media = new AccountMedia(source, () => gateway, 60_000);
    const row = { campaign_id: 'c1', media_path: 'u/pic.jpg', media_kind: 'photo', media_mime: 'image/jpeg' } as ClaimRow;
    const first = await media.ref(row)!;
    await gateway.send({ ...message(peer, 'one', '201'), media: first });
    offsetMs += model.media.config.fileReferenceTtlMs;
    const stale = await failure(gateway.send({ ...message(peer, 'two', '202'), media: first }));
    expect([isStaleMedia(stale.err), stale.classified.code]).toEqual([true, 'FILE_REFERENCE_EXPIRED']);
    const fresh = await media.refresh(row, first);
    await gateway.send({ ...message(peer, 'two', '202'), media: fresh });
    expect([source.fetches, (await history(login, channel)).map((m) => m.message)]).toEqual([2, ['two', 'one']]);
  });
});

describe('photo file names (PHOTO_EXT_INVALID)', () => {
  it('a photo whose stored name has no image extension is uploaded under a name its MIME type gives it', async () => {
    const { gateway } = await world();
    const ref = await gateway.uploadMedia({ ...photo(2 * KB, 5), name: 'cover', mimeType: 'image/png' });
    expect(ref.kind).toBe('photo');
  });
});

describe('FLOOD_PREMIUM_WAIT_X and lost parts (core.telegram.org/api/files)', () => {
  it('a throttled upload is an upload wait, sends without media go on, and the next try repeats only the refused part', async () => {
    const { gateway, peer, login, channel } = await world();
    model.media.config.premiumWait = { bytes: 1024 * KB, ms: 30_000 };
    try {
      const parts = counter('upload.saveFilePart');
      const file = photo(1536 * KB, 3); // three parts; the third goes past the allowance
      const throttled = await failure(gateway.uploadMedia(file));
      expect(throttled.classified).toMatchObject({ kind: 'upload_wait', seconds: 30, code: 'FLOOD_PREMIUM_WAIT_30' });
      await gateway.send(message(peer, 'text while uploads wait', '301'));
      offsetMs += 30_000;
      // "the query must be automatically repeated by the client after X seconds": the refused part,
      // not the whole file (which would be refused again at the same place, every time).
      const ref = await gateway.uploadMedia(file);
      expect(parts()).toBe(4);
      await gateway.send({ ...message(peer, 'the photo', '302'), media: ref });
      expect((await history(login, channel)).map((m) => m.message)).toEqual(['the photo', 'text while uploads wait']);
    } finally {
      delete model.media.config.premiumWait;
    }
  });

  it('FILE_PART_X_MISSING: the parts Telegram no longer holds are saved again and the upload completes', async () => {
    const { gateway } = await world();
    const parts = counter('upload.saveFilePart');
    // The parts expire between the last part and messages.uploadMedia (storage life: "several minutes to several hours").
    model.faults.add({ method: 'messages.uploadMedia', onMatch: () => (offsetMs += model.media.config.partTtlMs), times: 1 });
    const ref = await gateway.uploadMedia(photo(1100 * KB, 4));
    expect([ref.kind, parts()]).toEqual(['photo', 6]);
  });
});
