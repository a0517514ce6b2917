// Uploads and media through MTProto with real GramJS clients (core.telegram.org/api/files,
// /api/file_reference): part rules, assembly, photos and documents, sendMedia by upload and by
// reference, expiring references, FLOOD_PREMIUM_WAIT_X. Time is the model's own clock, moved on
// by the tests.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import { generateRandomLong } from 'telegram/Helpers.js';
import { telegramAnswer } from '../../worker/src/gateway/gramjs-gateway.ts';
import { TelegramModel } from './model/model.ts';
import { createChannel, history, inputPeer, post, rpcError, signedIn, testPhone, useStandIn } from './testing.ts';

const KB = 1024;
let offsetMs = 0;
const model = new TelegramModel({
  now: () => Date.now() + offsetMs,
  config: { uploads: { partTtlMs: 10 * 60_000, fileReferenceTtlMs: 60 * 60_000 } },
});
const { standIn, track } = useStandIn({ model });
const signIn = async () => track(await signedIn(standIn(), testPhone(2)));

/** What Telegram answered a call: "ok", or its code and error name (GramJS's classes undone). */
async function answer(client: TelegramClient, request: Api.AnyRequest): Promise<string> {
  try {
    await client.invoke(request);
    return 'ok';
  } catch (err) {
    const e = telegramAnswer(request, err) as { code?: number; errorMessage?: string };
    return `${e.code} ${e.errorMessage}`;
  }
}

const part = (fileId: ReturnType<typeof generateRandomLong>, filePart: number, bytes: Buffer) =>
  new Api.upload.SaveFilePart({ fileId, filePart, bytes });
const bigPart = (fileId: ReturnType<typeof generateRandomLong>, filePart: number, total: number, bytes: Buffer) =>
  new Api.upload.SaveBigFilePart({ fileId, filePart, fileTotalParts: total, bytes });

/** Saves `bytes` in parts of `partSize` (saveBigFilePart when big) and returns the InputFile naming them. */
async function saveFile(client: TelegramClient, bytes: Buffer, opts: { partSize?: number; big?: boolean; name?: string } = {}) {
  const size = opts.partSize ?? 512 * KB;
  const id = generateRandomLong(true);
  const parts = Math.ceil(bytes.length / size);
  for (let i = 0; i < parts; i++) {
    const chunk = bytes.subarray(i * size, (i + 1) * size);
    await client.invoke(opts.big ? bigPart(id, i, parts, chunk) : part(id, i, chunk));
  }
  const name = opts.name ?? 'file.jpg';
  return opts.big ? new Api.InputFileBig({ id, parts, name }) : new Api.InputFile({ id, parts, name, md5Checksum: '' });
}

const uploadRequest = (media: Api.TypeInputMedia) => new Api.messages.UploadMedia({ peer: new Api.InputPeerSelf(), media });
const photoFile = (file: Api.TypeInputFile) => new Api.InputMediaUploadedPhoto({ file });
const uploadPhoto = (client: TelegramClient, file: Api.TypeInputFile) => client.invoke(uploadRequest(photoFile(file)));

const photoOf = (media: Api.TypeMessageMedia) => (media as Api.MessageMediaPhoto).photo as Api.Photo;
const byReference = (p: Api.Photo, fileReference = p.fileReference) =>
  new Api.InputMediaPhoto({ id: new Api.InputPhoto({ id: p.id, accessHash: p.accessHash, fileReference }) });
const sendMedia = (ch: Api.Channel, media: Api.TypeInputMedia, message = '', randomId = generateRandomLong(true)) =>
  new Api.messages.SendMedia({ peer: inputPeer(ch), media, message, randomId });

describe('upload.saveFilePart / saveBigFilePart (core.telegram.org/api/files, "Uploading files")', () => {
  it('refuses empty parts, parts over 512 KB and part numbers outside 0..upload_max_fileparts-1', async () => {
    const client = await signIn();
    const id = generateRandomLong(true);
    expect(await answer(client, part(id, 0, Buffer.alloc(0)))).toBe('400 FILE_PART_EMPTY');
    expect(await answer(client, part(id, 0, Buffer.alloc(512 * KB + 1024)))).toBe('400 FILE_PART_TOO_BIG');
    expect(await answer(client, part(id, -1, Buffer.alloc(KB)))).toBe('400 FILE_PART_INVALID');
    expect(await answer(client, part(id, 4000, Buffer.alloc(KB)))).toBe('400 FILE_PART_INVALID');
    expect(await answer(client, part(id, 3999, Buffer.alloc(KB)))).toBe('ok');
  });

  it('parts but the last must be one size that divides 512 KB and is a multiple of 1 KB; the last may be smaller', async () => {
    const client = await signIn();
    const odd = generateRandomLong(true);
    expect(await answer(client, part(odd, 0, Buffer.alloc(1000)))).toBe('ok'); // could still be the last part
    expect(await answer(client, part(odd, 1, Buffer.alloc(500)))).toBe('400 FILE_PART_SIZE_INVALID');
    const third = generateRandomLong(true);
    expect(await answer(client, part(third, 0, Buffer.alloc(96 * KB)))).toBe('ok'); // 524288 % 98304 != 0
    expect(await answer(client, part(third, 1, Buffer.alloc(KB)))).toBe('400 FILE_PART_SIZE_INVALID');
    const changed = generateRandomLong(true);
    expect(await answer(client, part(changed, 0, Buffer.alloc(256 * KB)))).toBe('ok');
    expect(await answer(client, part(changed, 1, Buffer.alloc(128 * KB)))).toBe('ok'); // a last part, so far
    expect(await answer(client, part(changed, 2, Buffer.alloc(128 * KB)))).toBe('400 FILE_PART_SIZE_CHANGED');
    expect(await answer(client, part(changed, 2, Buffer.alloc(100)))).toBe('400 FILE_PART_SIZE_CHANGED');
    const fine = generateRandomLong(true);
    expect(await answer(client, part(fine, 1, Buffer.alloc(100)))).toBe('ok'); // parts may arrive in any order
    expect(await answer(client, part(fine, 0, Buffer.alloc(64 * KB)))).toBe('ok');
  });

  it('saveBigFilePart: file_total_parts in 1..upload_max_fileparts, parts below it, the same total for every part', async () => {
    const client = await signIn();
    const id = generateRandomLong(true);
    expect(await answer(client, bigPart(id, 0, 0, Buffer.alloc(KB)))).toBe('400 FILE_PARTS_INVALID');
    expect(await answer(client, bigPart(id, 0, 4001, Buffer.alloc(KB)))).toBe('400 FILE_PARTS_INVALID');
    expect(await answer(client, bigPart(id, 3, 3, Buffer.alloc(KB)))).toBe('400 FILE_PART_INVALID');
    expect(await answer(client, bigPart(id, 0, 3, Buffer.alloc(KB)))).toBe('ok');
    expect(await answer(client, bigPart(id, 1, 4, Buffer.alloc(KB)))).toBe('400 FILE_PARTS_INVALID');
    // The last part's number is known: a short part before it has a size 512 KB does not divide.
    expect(await answer(client, bigPart(id, 1, 3, Buffer.alloc(100)))).toBe('400 FILE_PART_SIZE_INVALID');
  });
});

describe('assembling an upload (messages.uploadMedia, messages.sendMedia)', () => {
  it('uploadMedia makes a photo with id, access_hash and file_reference; sendMedia by reference posts it', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    const photo = photoOf(await uploadPhoto(client, await saveFile(client, Buffer.alloc(700 * KB, 1))));
    expect(photo.fileReference.length).toBeGreaterThan(0);
    await client.invoke(sendMedia(ch, byReference(photo), 'caption'));
    await client.invoke(sendMedia(ch, byReference(photo), 'again, no new upload'));
    const posted = await history(client, ch);
    expect(posted.map((m) => [m.message, photoOf(m.media!).id.toString()])).toEqual([
      ['again, no new upload', photo.id.toString()],
      ['caption', photo.id.toString()],
    ]);
  });

  it("editMessage's media replaces a post's photo; the same file and text is MESSAGE_NOT_MODIFIED; a text post cannot gain media (MEDIA_PREV_INVALID)", async () => {
    // core.telegram.org/method/messages.editMessage: "media: New attached media"; MEDIA_PREV_INVALID in its errors.
    const client = await signIn();
    const ch = await createChannel(client);
    const first = photoOf(await uploadPhoto(client, await saveFile(client, Buffer.alloc(2 * KB, 1))));
    const second = photoOf(await uploadPhoto(client, await saveFile(client, Buffer.alloc(2 * KB, 2))));
    await client.invoke(sendMedia(ch, byReference(first), 'v1'));
    const [posted] = await history(client, ch);
    const edit = (id: number, media: Api.TypeInputMedia, message: string) =>
      client.invoke(new Api.messages.EditMessage({ peer: inputPeer(ch), id, message, media }));
    await edit(posted!.id, byReference(second), 'v2');
    const [edited] = await history(client, ch);
    expect([edited!.message, photoOf(edited!.media!).id.toString(), !!edited!.editDate]).toEqual([
      'v2',
      second.id.toString(),
      true,
    ]);
    expect(await rpcError(edit(posted!.id, byReference(second), 'v2'))).toBe('400 MESSAGE_NOT_MODIFIED');
    // an uploaded photo in the edit itself (InputMediaUploadedPhoto) is a new file
    await edit(posted!.id, photoFile(await saveFile(client, Buffer.alloc(2 * KB, 3))), 'v2');
    const [third] = await history(client, ch);
    expect([first.id, second.id].map(String)).not.toContain(photoOf(third!.media!).id.toString());

    await client.invoke(
      new Api.messages.SendMessage({ peer: inputPeer(ch), message: 'text', randomId: generateRandomLong(true) }),
    );
    const [text] = await history(client, ch);
    expect(await rpcError(edit(text!.id, byReference(second), 'text with a photo'))).toBe('400 MEDIA_PREV_INVALID');
    expect((await history(client, ch))[0]!.media).toBeFalsy();
  });

  it('sendMedia with an uploaded document posts it; a repeated random_id answers the first message (as sendMessage)', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    const file = await saveFile(client, Buffer.alloc(3 * KB, 2), { name: 'report.pdf' });
    const media = new Api.InputMediaUploadedDocument({ file, mimeType: 'application/pdf', attributes: [] });
    const sent = (u: Api.TypeUpdates) =>
      ((u as Api.Updates).updates.find((x) => x instanceof Api.UpdateMessageID) as Api.UpdateMessageID).id;
    const randomId = generateRandomLong(true);
    const first = await client.invoke(sendMedia(ch, media, 'doc', randomId));
    const repeat = await client.invoke(sendMedia(ch, media, 'doc', randomId));
    expect(sent(repeat)).toBe(sent(first));
    const [message, ...others] = await history(client, ch);
    expect(others).toEqual([]);
    const doc = (message!.media as Api.MessageMediaDocument).document as Api.Document;
    expect([doc.mimeType, doc.size.toString(), (doc.attributes[0] as Api.DocumentAttributeFilename).fileName])
      .toEqual(['application/pdf', String(3 * KB), 'report.pdf']);
  });

  it('a part not stored is FILE_PART_X_MISSING; a number of parts out of range or not the one saved FILE_PARTS_INVALID', async () => {
    const client = await signIn();
    const id = generateRandomLong(true);
    for (const i of [0, 2]) await client.invoke(part(id, i, Buffer.alloc(KB)));
    const file = (parts: number) => new Api.InputFile({ id, parts, name: 'a.jpg', md5Checksum: '' });
    expect(await answer(client, uploadRequest(photoFile(file(3))))).toBe('400 FILE_PART_1_MISSING');
    expect(await answer(client, uploadRequest(photoFile(file(0))))).toBe('400 FILE_PARTS_INVALID');
    expect(await answer(client, uploadRequest(photoFile(file(1))))).toBe('400 FILE_PARTS_INVALID');
  });

  it('an uploaded photo named without an image extension is PHOTO_EXT_INVALID; a document is not', async () => {
    const client = await signIn();
    const bytes = Buffer.alloc(KB, 9);
    expect(await answer(client, uploadRequest(photoFile(await saveFile(client, bytes, { name: 'cover' })))))
      .toBe('400 PHOTO_EXT_INVALID');
    expect(await answer(client, uploadRequest(photoFile(await saveFile(client, bytes, { name: 'cover.PNG' }))))).toBe('ok');
    const file = await saveFile(client, bytes, { name: 'cover' });
    const doc = new Api.InputMediaUploadedDocument({ file, mimeType: 'application/octet-stream', attributes: [] });
    expect(await answer(client, uploadRequest(doc))).toBe('ok');
  });

  it('an md5_checksum that does not match the parts is MD5_CHECKSUM_INVALID; the right one is taken', async () => {
    const client = await signIn();
    const bytes = Buffer.alloc(KB, 8);
    const saved = (await saveFile(client, bytes)) as Api.InputFile;
    const upload = (md5Checksum: string) =>
      uploadRequest(photoFile(new Api.InputFile({ id: saved.id, parts: saved.parts, name: saved.name, md5Checksum })));
    expect(await answer(client, upload('0'.repeat(32)))).toBe('400 MD5_CHECKSUM_INVALID');
    expect(await answer(client, upload(createHash('md5').update(bytes).digest('hex')))).toBe('ok');
  });

  it('parts belong to the account that saved them, and are gone after a while (FILE_PART_0_MISSING)', async () => {
    const owner = await signIn();
    const other = await signIn();
    const file = await saveFile(owner, Buffer.alloc(KB, 3));
    expect(await answer(other, uploadRequest(photoFile(file)))).toBe('400 FILE_PART_0_MISSING');
    offsetMs += model.media.config.partTtlMs;
    expect(await answer(owner, uploadRequest(photoFile(file)))).toBe('400 FILE_PART_0_MISSING');
  });

  it('a file over 10 MB must come through saveBigFilePart; as a photo it is too large (PHOTO_SAVE_FILE_INVALID)', async () => {
    const client = await signIn();
    const bytes = Buffer.alloc(10 * 1024 * KB + 1, 4);
    const small = await saveFile(client, bytes);
    expect(await answer(client, uploadRequest(photoFile(small)))).toBe('400 FILE_PARTS_INVALID');
    const big = await saveFile(client, bytes, { big: true, name: 'big.jpg' });
    expect(await answer(client, uploadRequest(photoFile(big)))).toBe('400 PHOTO_SAVE_FILE_INVALID');
    const doc = new Api.InputMediaUploadedDocument({ file: big, mimeType: 'application/octet-stream', attributes: [] });
    const media = await client.invoke(uploadRequest(doc));
    expect(((media as Api.MessageMediaDocument).document as Api.Document).size.toString()).toBe(String(bytes.length));
  });
});

describe('file references (core.telegram.org/api/file_reference)', () => {
  it('an old reference is FILE_REFERENCE_EXPIRED; the same photo refetched with a fresh reference is sent', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    const photo = photoOf(await uploadPhoto(client, await saveFile(client, Buffer.alloc(2 * KB, 5))));
    await client.invoke(sendMedia(ch, byReference(photo), 'first'));
    offsetMs += model.media.config.fileReferenceTtlMs;
    expect(await answer(client, sendMedia(ch, byReference(photo), 'stale'))).toBe('400 FILE_REFERENCE_EXPIRED');
    // Refetched from where it was seen (the message), the same id comes with a new reference.
    const refetched = photoOf((await history(client, ch))[0]!.media!);
    expect(refetched.id.toString()).toBe(photo.id.toString());
    expect(refetched.fileReference.equals(photo.fileReference)).toBe(false);
    await client.invoke(sendMedia(ch, byReference(refetched), 'fresh'));
    expect((await history(client, ch)).map((m) => m.message)).toEqual(['fresh', 'first']);
  });

  it('a reference never given out is FILE_REFERENCE_INVALID, an empty one FILE_REFERENCE_EMPTY, a wrong access_hash MEDIA_EMPTY', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    const photo = photoOf(await uploadPhoto(client, await saveFile(client, Buffer.alloc(KB, 6))));
    expect(await answer(client, sendMedia(ch, byReference(photo, Buffer.from('not a reference')))))
      .toBe('400 FILE_REFERENCE_INVALID');
    expect(await answer(client, sendMedia(ch, byReference(photo, Buffer.alloc(0))))).toBe('400 FILE_REFERENCE_EMPTY');
    const wrongHash = new Api.InputPhoto({
      id: photo.id,
      accessHash: photo.accessHash.add(1),
      fileReference: photo.fileReference,
    });
    expect(await answer(client, sendMedia(ch, new Api.InputMediaPhoto({ id: wrongHash })))).toBe('400 MEDIA_EMPTY');
    expect(await history(client, ch)).toEqual([]);
  });
});

describe('420 FLOOD_PREMIUM_WAIT_X (core.telegram.org/api/files): upload speed of non-Premium accounts', () => {
  it('limits saving parts only: sends go on, and the part is taken once the wait has passed', async () => {
    const client = await signIn();
    const ch = await createChannel(client);
    model.media.config.premiumWait = { bytes: 1024 * KB, ms: 30_000 };
    try {
      const id = generateRandomLong(true);
      for (const i of [0, 1]) expect(await answer(client, part(id, i, Buffer.alloc(512 * KB)))).toBe('ok');
      expect(await answer(client, part(id, 2, Buffer.alloc(512 * KB)))).toBe('420 FLOOD_PREMIUM_WAIT_30');
      await post(client, ch, 'text goes on');
      offsetMs += 30_000;
      expect(await answer(client, part(id, 2, Buffer.alloc(512 * KB)))).toBe('ok');
      expect((await history(client, ch)).map((m) => m.message)).toEqual(['text goes on']);
    } finally {
      delete model.media.config.premiumWait;
    }
  });
});
