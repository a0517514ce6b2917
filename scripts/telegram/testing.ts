// Helpers for tests that drive the stand-in with real GramJS clients, through MTProto only.
import { afterAll, beforeAll } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import type { TelegramClientParams } from 'telegram/client/telegramBaseClient.js';
import { returnBigInt } from 'telegram/Helpers.js';
import { configFromEnv } from '../../worker/src/config.ts';
import { createTelegramClient, GramJsGateway } from '../../worker/src/gateway/gramjs-gateway.ts';
import { standInClient } from './client.ts';
import { type StandInEntry, type StandInOptions, startStandIn, type TelegramStandIn } from './mtproto/server.ts';

/**
 * Starts a stand-in for the test file and closes it, with every client passed to `track`, at the
 * end. `standIn()` is the running stand-in.
 */
export function useStandIn(
  opts: StandInOptions = {},
): { standIn: () => TelegramStandIn; track: (c: TelegramClient) => TelegramClient } {
  let running: TelegramStandIn | undefined;
  const clients: TelegramClient[] = [];
  beforeAll(async () => {
    running = await startStandIn(opts);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.destroy()));
    await running?.close();
  });
  return {
    standIn: () =>
      running ?? (() => {
        throw new Error('the stand-in is not started');
      })(),
    track: (c) => (clients.push(c), c),
  };
}

let nextNumber = 1;

/** A fresh test number on DC `dc` (core.telegram.org/api/auth#test-accounts: 99966XYYYY). */
export const testPhone = (dc: number) => `99966${dc}${String(nextNumber++).padStart(4, '0')}`;

/** A client signed in (signed up if new) with a test number: the code is the DC digit five times. */
export async function signedIn(entry: StandInEntry, phone: string, params: TelegramClientParams = {}): Promise<TelegramClient> {
  const dc = Number(phone[5]);
  // GramJS sleeps through FLOOD_WAITs below floodSleepThreshold; tests want to see them.
  const client = standInClient(entry, { dcId: dc, params: { floodSleepThreshold: 0, ...params } });
  await client.start({
    phoneNumber: phone,
    phoneCode: async () => String(dc).repeat(5),
    firstAndLastNames: async () => [`User ${phone.slice(-4)}`, ''],
    onError: async (err) => {
      throw err;
    },
  });
  return client;
}

export const inputChannel = (ch: Api.Channel) =>
  new Api.InputChannel({ channelId: ch.id, accessHash: ch.accessHash ?? returnBigInt(0) });
export const inputPeer = (ch: Api.Channel) =>
  new Api.InputPeerChannel({ channelId: ch.id, accessHash: ch.accessHash ?? returnBigInt(0) });

/** channels.createChannel (a broadcast channel unless megagroup), then channels.updateUsername when given. */
export async function createChannel(
  client: TelegramClient,
  opts: { username?: string; megagroup?: boolean } = {},
): Promise<Api.Channel> {
  const title = opts.username ?? 'A channel';
  const res = await client.invoke(
    new Api.channels.CreateChannel({ title, about: '', broadcast: !opts.megagroup, megagroup: opts.megagroup }),
  );
  const ch = (res as Api.Updates).chats[0] as Api.Channel;
  if (opts.username) await client.invoke(new Api.channels.UpdateUsername({ channel: inputChannel(ch), username: opts.username }));
  return ch;
}

/** The channel as `client` sees it, resolved by username with its own access hash. */
export async function resolveChannel(client: TelegramClient, username: string): Promise<Api.Channel> {
  const res = await client.invoke(new Api.contacts.ResolveUsername({ username }));
  return res.chats[0] as Api.Channel;
}

export async function resolveUser(client: TelegramClient, username: string): Promise<Api.User> {
  const res = await client.invoke(new Api.contacts.ResolveUsername({ username }));
  return res.users[0] as Api.User;
}

export const post = (client: TelegramClient, ch: Api.Channel, message: string, randomId?: bigint) =>
  client.invoke(
    new Api.messages.SendMessage({
      peer: inputPeer(ch),
      message,
      randomId: randomId === undefined ? undefined : returnBigInt(randomId.toString()),
    }),
  );

export async function history(client: TelegramClient, ch: Api.Channel): Promise<Api.Message[]> {
  const res = await client.invoke(new Api.messages.GetHistory({ peer: inputPeer(ch), limit: 100 }));
  return (res as Api.messages.ChannelMessages).messages as Api.Message[];
}

/**
 * The RPC error a call fails with, as GramJS surfaces it: `code` and `errorMessage`, except that
 * GramJS turns FLOOD_WAIT_X and SLOWMODE_WAIT_X into FloodWaitError / SlowModeWaitError with `seconds`.
 */
export async function rpcError(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: number; errorMessage?: string; seconds?: number };
    return e.seconds === undefined ? `${e.code} ${e.errorMessage}` : `${e.code} ${e.constructor.name}(${e.seconds})`;
  }
  return 'no error';
}

/** A bot client signed in with its token (auth.importBotAuthorization), on DC 2. */
export async function signedInBot(entry: StandInEntry, botAuthToken: string): Promise<TelegramClient> {
  const client = standInClient(entry, { dcId: 2, params: { floodSleepThreshold: 0 } });
  await client.start({ botAuthToken });
  return client;
}

export const inputPeerUser = (u: Api.User) =>
  new Api.InputPeerUser({ userId: u.id, accessHash: u.accessHash ?? returnBigInt(0) });

/** messages.sendMessage to any InputPeer; answers the new message's id. */
export async function sendTo(client: TelegramClient, peer: Api.TypeInputPeer, message: string): Promise<number> {
  const res = await client.invoke(new Api.messages.SendMessage({ peer, message }));
  const update = (res as Api.Updates).updates.find((u) => u instanceof Api.UpdateMessageID) as Api.UpdateMessageID;
  return update.id;
}

export async function historyOf(client: TelegramClient, peer: Api.TypeInputPeer): Promise<Api.Message[]> {
  const res = await client.invoke(new Api.messages.GetHistory({ peer, limit: 100 }));
  return (res as Api.messages.Messages).messages as Api.Message[];
}

/**
 * The worker's gateway, configured from the environment as in production (TELEGRAM_SERVER), on the
 * session `login` saved (as a terminal login hands it to TELEGRAM_ACCOUNTS); `login` is closed.
 */
export async function workerGateway(entry: StandInEntry, login: TelegramClient): Promise<GramJsGateway> {
  const config = configFromEnv({
    DATABASE_URL: 'postgres://unused',
    TELEGRAM_MODE: 'gramjs',
    TELEGRAM_ACCOUNTS: '[{"accountId":"00000000-0000-4000-8000-000000000001","session":"x"}]',
    TELEGRAM_API_ID: String(entry.apiId),
    TELEGRAM_API_HASH: entry.apiHash,
    TELEGRAM_SERVER: JSON.stringify({ dcs: entry.dcs, publicKeyPem: entry.publicKeyPem }),
  });
  const session = login.session.save() as unknown as string;
  await login.destroy();
  const gateway = new GramJsGateway(
    createTelegramClient({ session, apiId: config.apiId!, apiHash: config.apiHash!, server: config.server }),
  );
  await gateway.start();
  return gateway;
}
