// Saved Messages (core.telegram.org/api/saved-messages: the account's chat with itself, inputPeerSelf)
// through MTProto with real GramJS clients: text and media sends stored once in the account's own
// box and read back with messages.getHistory; the worker's gateway sends a test message with its
// upload there, as the API's test send does.
import { describe, expect, it } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import { generateRandomLong } from 'telegram/Helpers.js';
import { SAVED_MESSAGES } from '../../worker/src/gateway/types.ts';
import { historyOf, rpcError, signedIn, testPhone, useStandIn, workerGateway } from './testing.ts';

const { standIn, track } = useStandIn();
const self = () => new Api.InputPeerSelf();
const PHOTO = Buffer.alloc(3000, 9);

/** One part saved and uploaded as a photo with messages.uploadMedia: the photo, to send by reference. */
async function uploadedPhoto(client: TelegramClient): Promise<Api.Photo> {
  const id = generateRandomLong(true);
  await client.invoke(new Api.upload.SaveFilePart({ fileId: id, filePart: 0, bytes: PHOTO }));
  const file = new Api.InputFile({ id, parts: 1, name: 'saved.jpg', md5Checksum: '' });
  const media = await client.invoke(
    new Api.messages.UploadMedia({ peer: self(), media: new Api.InputMediaUploadedPhoto({ file }) }),
  );
  return (media as Api.MessageMediaPhoto).photo as Api.Photo;
}

const sentId = (res: Api.TypeUpdates) =>
  ((res as Api.Updates).updates.find((u) => u instanceof Api.UpdateMessageID) as Api.UpdateMessageID).id;

describe('Saved Messages (inputPeerSelf)', () => {
  it("messages.sendMessage stores one copy in the account's own chat; a repeated random_id answers the same message", async () => {
    const client = track(await signedIn(standIn(), testPhone(2)));
    const randomId = generateRandomLong(true);
    const send = () => client.invoke(new Api.messages.SendMessage({ peer: self(), message: 'a note', randomId }));
    const first = sentId(await send());
    expect(sentId(await send())).toBe(first);
    const saved = await historyOf(client, self());
    expect(saved.map((m) => [m.id, m.message, m.out])).toEqual([[first, 'a note', true]]);
  });

  it('messages.sendMedia with an existing photo by reference: the caption and the photo, once per random_id', async () => {
    const client = track(await signedIn(standIn(), testPhone(1)));
    const photo = await uploadedPhoto(client);
    const media = new Api.InputMediaPhoto({
      id: new Api.InputPhoto({ id: photo.id, accessHash: photo.accessHash, fileReference: photo.fileReference }),
    });
    const randomId = generateRandomLong(true);
    const send = () => client.invoke(new Api.messages.SendMedia({ peer: self(), media, message: 'caption', randomId }));
    const first = sentId(await send());
    expect(sentId(await send())).toBe(first);
    const [m, ...rest] = await historyOf(client, self());
    expect(rest).toEqual([]);
    expect([m!.id, m!.message, m!.media?.className, ((m!.media as Api.MessageMediaPhoto).photo as Api.Photo).id.toString()])
      .toEqual([first, 'caption', 'MessageMediaPhoto', photo.id.toString()]);
  });

  it('messages.sendMedia with an unknown reference is refused as for a channel (FILE_REFERENCE_INVALID)', async () => {
    const client = track(await signedIn(standIn(), testPhone(3)));
    const photo = await uploadedPhoto(client);
    const media = new Api.InputMediaPhoto({
      id: new Api.InputPhoto({ id: photo.id, accessHash: photo.accessHash, fileReference: Buffer.from('not given out') }),
    });
    const send = new Api.messages.SendMedia({ peer: self(), media, message: '', randomId: generateRandomLong(true) });
    expect(await rpcError(client.invoke(send))).toBe('400 FILE_REFERENCE_INVALID');
    expect(await historyOf(client, self())).toEqual([]);
  });

  it('the worker gateway uploads once and sends a photo test message to Saved Messages', async () => {
    const s = standIn();
    const gateway = await workerGateway(s, await signedIn(s, testPhone(2)));
    track(gateway.client);
    const media = await gateway.uploadMedia({ kind: 'photo', name: 'test.png', mimeType: 'image/png', bytes: PHOTO });
    const message = { peer: SAVED_MESSAGES, text: 'test send', parseMode: 'plain', silent: false, linkPreview: true } as const;
    const { messageId } = await gateway.send({ ...message, randomId: '77', media });
    const saved = await historyOf(gateway.client, self());
    expect(saved.map((m) => [m.id, m.message, m.media?.className])).toEqual([[messageId, 'test send', 'MessageMediaPhoto']]);
  });
});
