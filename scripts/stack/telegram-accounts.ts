// The stack's accounts signed in to the stand-in, a local convenience (`--no-auto-sign-in` turns it
// off): each telegram_accounts row gets a test phone number of its own (core.telegram.org/api/auth,
// "Test accounts": 99966XYYYY lives on DC X, its code is X five times), is signed in (or up)
// through MTProto with GramJS as a person would, and may post to the channels made on first
// resolution. Phone numbers and sessions are kept in <dir>/telegram/accounts.json (secrets: 0600).
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { Api, utils } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { StringSession } from 'telegram/sessions/index.js';
import { standInClient } from '../telegram/client.ts';
import { authKeyId } from '../telegram/mtproto/crypto.ts';
import type { StandInEntry } from '../telegram/mtproto/server.ts';
import type { StackTelegram } from './telegram.ts';

export interface StackAccount {
  phone: string;
  session: string;
}
export type StackAccounts = Record<string, StackAccount>;

export const accountsFile = (telegramHome: string) => join(telegramHome, 'accounts.json');

export async function readStackAccounts(telegramHome: string): Promise<StackAccounts> {
  const file = accountsFile(telegramHome);
  return existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) as StackAccounts : {};
}

/** The n-th stack number (from 0), spread over DCs 1–3: 9996610001, 9996620001, 9996630001, 9996610002, … */
export function stackPhone(n: number): string {
  return `99966${1 + (n % 3)}${String(1 + Math.floor(n / 3)).padStart(4, '0')}`;
}

/** The stand-in's account a session is signed in as, or undefined (unknown key, logged out, state lost). */
async function sessionUser(t: StackTelegram, session: string): Promise<bigint | undefined> {
  const s = new StringSession(session);
  await s.load();
  const key = s.authKey?.getKey();
  if (!key) return undefined;
  const id = authKeyId(key).toString('hex');
  if (!t.keys.get(s.dcId)?.get(id)) return undefined;
  try {
    return t.standIn.model.accounts.forKey(id).id;
  } catch {
    return undefined;
  }
}

/** Signs `phone` in (or up) through MTProto; returns its StringSession. */
export async function signInTestPhone(t: StackTelegram, phone: string, name: string): Promise<string> {
  const dc = Number(phone[5]);
  const client = standInClient(t.entry, { dcId: dc, params: { floodSleepThreshold: 0 } });
  try {
    await client.start({
      phoneNumber: phone,
      phoneCode: async () => String(dc).repeat(5),
      firstAndLastNames: async () => [name, ''],
      onError: async (err) => {
        throw err;
      },
    });
    return client.session.save() as unknown as string;
  } finally {
    await client.destroy();
  }
}

/**
 * Every account gets a valid session: kept from the last run when the stand-in still knows it,
 * otherwise a new sign-in. With autoChannels, each may post to the channels made on resolution.
 */
export async function signInStackAccounts(
  t: StackTelegram,
  accountIds: string[],
): Promise<{ accounts: Array<{ accountId: string; session: string }>; newSessions: number }> {
  const stored = await readStackAccounts(t.home);
  const accounts: Array<{ accountId: string; session: string }> = [];
  let newSessions = 0;
  for (const accountId of accountIds) {
    const phones = new Set(Object.values(stored).map((a) => a.phone));
    let n = Object.keys(stored).length;
    while (!stored[accountId] && phones.has(stackPhone(n))) n++;
    const phone = stored[accountId]?.phone ?? stackPhone(n);
    let session = stored[accountId]?.session;
    let user = session ? await sessionUser(t, session) : undefined;
    if (user === undefined) {
      session = await signInTestPhone(t, phone, `Stack account ${phone.slice(-5)}`);
      user = await sessionUser(t, session);
      newSessions++;
    }
    stored[accountId] = { phone, session: session! };
    if (user !== undefined) t.standIn.model.administerAutoChannels(user);
    accounts.push({ accountId, session: session! });
  }
  await writeFile(accountsFile(t.home), `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  await t.save(); // the new authorizations are on disk before any session leaves this process
  return { accounts, newSessions };
}

/**
 * Messages beyond the first in each of the account's channels, read back from the stand-in through
 * MTProto (messages.getHistory with the account's own session and access hashes, as the worker
 * cached them in private.account_peers): 0 when every target got exactly one post.
 */
export async function standInDuplicates(
  o: { entry: StandInEntry; telegramHome: string; dbUrl: string; accountId: string; channelIds: string[] },
): Promise<number> {
  const session = (await readStackAccounts(o.telegramHome))[o.accountId]?.session;
  if (!session) throw new Error(`no stand-in session for account ${o.accountId} in ${accountsFile(o.telegramHome)}`);
  const db = new pg.Client({ connectionString: o.dbUrl });
  await db.connect();
  const peers = await db.query<{ telegram_id: string; access_hash: string }>(
    `select telegram_id::text, access_hash::text from private.account_peers where account_id = $1 and channel_id = any($2::uuid[])`,
    [o.accountId, o.channelIds],
  ).finally(() => db.end());
  if (peers.rows.length !== o.channelIds.length) {
    throw new Error(`the account resolved ${peers.rows.length} of the ${o.channelIds.length} channels: no post to count`);
  }
  const client = standInClient(o.entry, { session });
  await client.connect();
  try {
    let duplicates = 0;
    for (const p of peers.rows) {
      const [channelId] = utils.resolveId(returnBigInt(p.telegram_id));
      const peer = new Api.InputPeerChannel({ channelId, accessHash: returnBigInt(p.access_hash) });
      const res = await client.invoke(new Api.messages.GetHistory({ peer, limit: 100 })) as Api.messages.ChannelMessages;
      duplicates += Math.max(0, res.messages.length - 1);
    }
    return duplicates;
  } finally {
    await client.destroy();
  }
}
