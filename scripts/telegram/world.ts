// A scenario's world on the stand-in, made through MTProto only, as a user would make it on
// Telegram: accounts signed up with test numbers (core.telegram.org/api/auth, "Test accounts"),
// each the creator of its channels (channels.createChannel, channels.updateUsername), or an admin
// with post_messages (channels.editAdmin) of channels another account created. What Telegram
// stored is read back through messages.getHistory, the way any client sees a channel.
import { generateKeyPairSync } from 'node:crypto';
import { Api, type TelegramClient } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { standInClient } from './client.ts';
import type { StandInEntry } from './mtproto/server.ts';

export interface WorldChannel {
  /** Without the @. */
  username: string;
  id: string;
  /** The creator's access hash. */
  accessHash: string;
}

export interface WorldAccount {
  phone: string;
  /** The account's StringSession: what the worker's TELEGRAM_ACCOUNTS carries. */
  session: string;
  /** The channels it created (and may post to as their creator). */
  channels: WorldChannel[];
}

/** A post as getHistory shows it. */
export interface Post {
  /** The channel's username with its @, as the product names targets. */
  peer: string;
  messageId: number;
  /** When Telegram stored it, in milliseconds (Telegram's dates are whole seconds). */
  at: number;
  text: string;
  /** The message's media as TL names it (MessageMediaPhoto, MessageMediaDocument); absent for text. */
  media?: string;
  /** When it was last edited, in milliseconds; absent if never. */
  editedAt?: number;
  pinned?: boolean;
}

/** A PEM private key for startStandIn: one per process spares each stand-in a key generation. */
export function standInPrivateKey(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

/** The test number `n` on DC `dc`: 99966XYYYY, whose login code is X five times. */
export const worldPhone = (dc: number, n: number) => `99966${dc}${String(n).padStart(4, '0')}`;

/** Signs a test number in (signing it up if new); GramJS never sleeps through a FLOOD_WAIT here. */
export async function signIn(entry: StandInEntry, phone: string): Promise<TelegramClient> {
  const dc = Number(phone[5]);
  const client = standInClient(entry, { dcId: dc, params: { floodSleepThreshold: 0 } });
  await client.start({
    phoneNumber: phone,
    phoneCode: async () => String(dc).repeat(5),
    firstAndLastNames: async () => [`Account ${phone.slice(-4)}`, ''],
    onError: async (err) => {
      throw err;
    },
  });
  return client;
}

/** A broadcast channel created by `client`, public under `username`. */
export async function createPublicChannel(client: TelegramClient, username: string): Promise<WorldChannel> {
  const res = (await client.invoke(
    new Api.channels.CreateChannel({ title: username, about: '', broadcast: true }),
  )) as Api.Updates;
  const ch = res.chats[0] as Api.Channel;
  const input = new Api.InputChannel({ channelId: ch.id, accessHash: ch.accessHash ?? returnBigInt(0) });
  await client.invoke(new Api.channels.UpdateUsername({ channel: input, username }));
  return { username, id: ch.id.toString(), accessHash: (ch.accessHash ?? 0).toString() };
}

/**
 * One account per entry of `channels` (its channels' usernames, without @), signed up on DCs 1,
 * 2, 3 in turn, each creating its own channels. `concurrency` accounts are set up at once.
 */
export async function buildWorld(
  entry: StandInEntry,
  channels: string[][],
  opts: { concurrency?: number } = {},
): Promise<WorldAccount[]> {
  const dcs = entry.dcs.map((d) => d.id);
  const accounts: WorldAccount[] = new Array(channels.length);
  let next = 0;
  const setUp = async () => {
    for (let i = next++; i < channels.length; i = next++) {
      const phone = worldPhone(dcs[i % dcs.length]!, i + 1);
      const client = await signIn(entry, phone);
      try {
        // All at once: the calls share round trips (on a loaded machine, most of each call's time).
        const own = await Promise.all(channels[i]!.map((username) => createPublicChannel(client, username)));
        accounts[i] = { phone, session: client.session.save() as unknown as string, channels: own };
      } finally {
        await client.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, channels.length) }, setUp));
  return accounts;
}

/** Every post of every channel of the world, read by each channel's creator with messages.getHistory. */
export async function worldPosts(entry: StandInEntry, world: readonly WorldAccount[]): Promise<Post[]> {
  const perAccount = await Promise.all(world.map(async (account) => {
    const client = standInClient(entry, { session: account.session, params: { floodSleepThreshold: 0 } });
    try {
      await client.connect();
      return (await Promise.all(account.channels.map((ch) => channelPosts(client, ch)))).flat();
    } finally {
      await client.destroy();
    }
  }));
  return perAccount.flat();
}

async function channelPosts(client: TelegramClient, ch: WorldChannel): Promise<Post[]> {
  const peer = new Api.InputPeerChannel({ channelId: returnBigInt(ch.id), accessHash: returnBigInt(ch.accessHash) });
  const posts: Post[] = [];
  for (let offsetId = 0;;) {
    const res =
      (await client.invoke(new Api.messages.GetHistory({ peer, offsetId, limit: 100 }))) as Api.messages.ChannelMessages;
    const page = res.messages.filter((m): m is Api.Message => m instanceof Api.Message);
    for (const m of page) {
      const edited = m.editDate ? { editedAt: m.editDate * 1000 } : {};
      posts.push({
        peer: `@${ch.username}`,
        messageId: m.id,
        at: m.date * 1000,
        text: m.message,
        media: m.media?.className,
        pinned: !!m.pinned,
        ...edited,
      });
    }
    if (page.length < 100) return posts;
    offsetId = page.at(-1)!.id;
  }
}
