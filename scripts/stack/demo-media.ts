// The demo's picture (`npm run demo -- --media`): drawn here, uploaded with supabase-js Storage
// to the demo user's folder of `campaign-media`, as a client app would; then a test send to
// Saved Messages, found again in what Telegram holds (the stand-in, read through MTProto; or the
// simulator's store).
import { deflateSync } from 'node:zlib';
import { createClient } from '@supabase/supabase-js';
import type { TestSend } from '../../contracts/api/campaigns.ts';
import { PostgresMessageStore } from '../../worker/src/simulator/store.ts';
import { Api } from 'telegram';
import type { Api as ApiClient } from './api.ts';
import type { StackInfo } from './index.ts';
import { type StoredAccount, withAccountClient } from './telegram-accounts.ts';

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (b: Buffer) => (b.reduce((c, x) => crcTable[(c ^ x) & 0xff]! ^ (c >>> 8), 0xffffffff) ^ 0xffffffff) >>> 0;

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

/** A 256×256 RGB gradient as a PNG: a real image for Telegram, with no file in the repository. */
export function demoPicture(size = 256): Buffer {
  const rows = Array.from(
    { length: size },
    (_, y) => Buffer.from([0, ...Array.from({ length: size }, (_, x) => [x, y, 160]).flat()]),
  );
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Uploads the picture as the demo user (their folder of the private bucket) and returns the campaign's media. */
export async function uploadDemoPicture(info: Pick<StackInfo, 'apiUrl' | 'anonKey' | 'demoToken' | 'demoUserId'>) {
  const supabase = createClient(info.apiUrl, info.anonKey, { accessToken: async () => info.demoToken });
  const path = `${info.demoUserId}/demo-${Date.now()}.png`;
  const { error } = await supabase.storage.from('campaign-media').upload(path, new Blob([demoPicture()], { type: 'image/png' }));
  if (error) throw new Error(`uploading the demo picture failed: ${error.message}`);
  return { path, kind: 'photo' as const };
}

/**
 * Message `id` of the account's Saved Messages as the stand-in holds it, read through MTProto
 * (messages.getHistory of inputPeerSelf): its media's TL class, null for text, undefined if absent.
 */
export async function standInSaved(account: StoredAccount, id: number): Promise<string | null | undefined> {
  return await withAccountClient(account, async (client) => {
    const res = await client.invoke(new Api.messages.GetHistory({ peer: new Api.InputPeerSelf(), limit: 100 }));
    const m = (res as Api.messages.Messages).messages.find((x): x is Api.Message => x instanceof Api.Message && x.id === id);
    return m && (m.media?.className ?? null);
  });
}

/** Message `id` of the account's Saved Messages as the simulator stored it: its media kind, null for text, undefined if absent. */
export async function simulatorSaved(dbUrl: string, id: number): Promise<string | null | undefined> {
  const store = new PostgresMessageStore(dbUrl);
  try {
    return (await store.messages()).find((m) => m.peer === 'me' && m.messageId === id)?.media;
  } finally {
    await store.close();
  }
}

/** POST /campaigns/:id/test, then the message as Telegram (`saved` reads it) holds it in Saved Messages. */
export async function testToSavedMessages(
  api: ApiClient,
  campaignId: string,
  saved: (id: number) => Promise<string | null | undefined>,
): Promise<{ test: TestSend; media: string | null }> {
  const test = await api.call<TestSend>('POST', `/campaigns/${campaignId}/test`, {});
  if (test.state !== 'sent') {
    throw new Error(`the test send was not sent: ${test.state} ${test.errorCode ?? ''} ${test.errorMessage ?? ''}`);
  }
  const media = await saved(Number(test.telegramMessageId));
  if (media === undefined) throw new Error(`message ${test.telegramMessageId} is not in the account's Saved Messages`);
  return { test, media };
}
