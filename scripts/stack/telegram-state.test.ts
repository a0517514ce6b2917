// The stand-in's state saved and restored as the local stack does across a restart, checked
// through MTProto with a real GramJS client: its session, channel, access hash, posts and
// random_ids are the same after; a send in flight when the state was saved is free to go again.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import { generateRandomLong, returnBigInt } from 'telegram/Helpers.js';
import { standInClient } from '../telegram/client.ts';
import { TelegramModel } from '../telegram/model/model.ts';
import { AuthKeys } from '../telegram/mtproto/keys.ts';
import { startStandIn, type TelegramStandIn } from '../telegram/mtproto/server.ts';
import { createChannel, history, inputPeer, post, signedIn, testPhone } from '../telegram/testing.ts';
import { restoreState, saveState } from './telegram-state.ts';

const privateKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const running: Array<{ close(): Promise<void> } | TelegramClient> = [];
afterAll(async () => {
  for (const r of running.reverse()) await ('destroy' in r ? r.destroy() : r.close());
});

async function standInFrom(file: string) {
  const model = new TelegramModel();
  const keys = new Map([1, 2, 3].map((dc) => [dc, new AuthKeys()]));
  const restored = await restoreState(file, model, keys);
  const standIn: TelegramStandIn = await startStandIn({ model, privateKeyPem, authKeys: (dc) => keys.get(dc)! });
  running.push(standIn);
  return { standIn, model, keys, restored };
}

it('a session, its channel, access hash, posts and random_ids survive a save and restore; an in-flight send is freed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tg-state-'));
  try {
    const file = join(dir, 'state.v8');
    const first = await standInFrom(file);
    expect(first.restored).toBe(false);
    const client = await signedIn(first.standIn, testPhone(2));
    running.push(client);
    const channel = await createChannel(client, { username: 'kept_channel' });
    await post(client, channel, 'posted first', 1n);

    // Saved while a send is held at the model: the saved state has it in flight.
    let release!: () => void;
    let arrived!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    first.model.faults.add({ method: 'messages.sendMessage', until: new Promise<void>((r) => (release = r)), onMatch: arrived });
    const inFlight = post(client, channel, 'in flight', 2n);
    await reached;
    await saveState(file, first.model, first.keys);
    release();
    await inFlight;
    const session = client.session.save() as unknown as string;
    await client.destroy();
    await first.standIn.close();

    const second = await standInFrom(file);
    expect(second.restored).toBe(true);
    const again = standInClient(second.standIn, { session, params: { floodSleepThreshold: 0 } });
    running.push(again);
    await again.connect();
    // The same random_id answers the original message: nothing new is posted.
    await post(again, channel, 'posted first, repeated', 1n);
    // The send in flight at the save never finished in the saved state: its random_id posts now.
    await post(again, channel, 'in flight', 2n);
    expect((await history(again, channel)).map((m) => m.message)).toEqual(['in flight', 'posted first']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('a photo posted before the save is resent by reference after the restore (its file_reference still taken)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tg-state-'));
  try {
    const file = join(dir, 'state.v8');
    const first = await standInFrom(file);
    const client = await signedIn(first.standIn, testPhone(2));
    running.push(client);
    const channel = await createChannel(client, { username: 'kept_photos' });
    const fileId = generateRandomLong(true);
    await client.invoke(new Api.upload.SaveFilePart({ fileId, filePart: 0, bytes: Buffer.alloc(2000, 5) }));
    const uploaded = new Api.InputFile({ id: fileId, parts: 1, name: 'kept.jpg', md5Checksum: '' });
    const send = (media: Api.TypeInputMedia, randomId: bigint) =>
      client.invoke(
        new Api.messages.SendMedia({ peer: inputPeer(channel), media, message: '', randomId: returnBigInt(randomId) }),
      );
    await send(new Api.InputMediaUploadedPhoto({ file: uploaded }), 1n);
    const photo = ((await history(client, channel))[0]!.media as Api.MessageMediaPhoto).photo as Api.Photo;
    await saveState(file, first.model, first.keys);
    const session = client.session.save() as unknown as string;
    await client.destroy();
    await first.standIn.close();

    const second = await standInFrom(file);
    const again = standInClient(second.standIn, { session, params: { floodSleepThreshold: 0 } });
    running.push(again);
    await again.connect();
    const byReference = new Api.InputPhoto({ id: photo.id, accessHash: photo.accessHash, fileReference: photo.fileReference });
    await again.invoke(
      new Api.messages.SendMedia({
        peer: inputPeer(channel),
        media: new Api.InputMediaPhoto({ id: byReference }),
        message: '',
        randomId: returnBigInt(2),
      }),
    );
    expect((await history(again, channel)).map((m) => m.media?.className)).toEqual(['MessageMediaPhoto', 'MessageMediaPhoto']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
