// The stack's accounts signed in to the stand-in, a local convenience (`--no-auto-sign-in` turns it
// off): each telegram_accounts row without a stored session gets a test phone number of its own
// (core.telegram.org/api/auth, "Test accounts": 99966XYYYY lives on DC X, its code is X five
// times), is signed in (or up) through MTProto with GramJS as a person would, and its session is
// stored sealed in the database (worker/src/sessions), where the worker finds it within seconds:
// at start, and for accounts created through the API while the stack runs. Each may post to the
// channels made on first resolution. Phone numbers are kept in <dir>/telegram/accounts.json.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { Api, type TelegramClient, utils } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { StringSession } from 'telegram/sessions/index.js';
import { openSealed, type SessionKey } from '../../worker/src/sessions/vault.ts';
import { readSealedSessions, sessionAccounts, storeSession } from '../../worker/src/sessions/store.ts';
import { standInClient } from '../telegram/client.ts';
import { authKeyId } from '../telegram/mtproto/crypto.ts';
import type { StandInEntry } from '../telegram/mtproto/server.ts';
import type { StackTelegram } from './telegram.ts';

/** accountId → its test phone number, so a new sign-in is the same Telegram account as before. */
export type StackPhones = Record<string, { phone: string }>;

const phonesFile = (telegramHome: string) => join(telegramHome, 'accounts.json');
/** How often the stack looks for accounts without a session (the worker looks for new sessions about every 2 s). */
const POLL_MS = 1_000;

async function readPhones(telegramHome: string): Promise<StackPhones> {
  const file = phonesFile(telegramHome);
  return existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) as StackPhones : {};
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

/** The sessions stored for the stack's accounts, opened with the stack's key (those it cannot open count as none). */
async function storedSessions(db: pg.Client, key: SessionKey): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const s of await readSealedSessions(db, null)) {
    try {
      out.set(s.accountId, openSealed([key], s.session));
    } catch { /* sealed under another key: signed in again */ }
  }
  return out;
}

/** Gives a test number to, signs in and stores a session for every account in `accountIds`; returns how many. */
async function signIn(t: StackTelegram, db: pg.Client, key: SessionKey, accountIds: string[]): Promise<number> {
  if (!accountIds.length) return 0;
  const phones = await readPhones(t.home);
  for (const accountId of accountIds) {
    const taken = new Set(Object.values(phones).map((a) => a.phone));
    let n = Object.keys(phones).length;
    while (!phones[accountId] && taken.has(stackPhone(n))) n++;
    phones[accountId] ??= { phone: stackPhone(n) };
    const session = await signInTestPhone(t, phones[accountId].phone, `Stack account ${phones[accountId].phone.slice(-5)}`);
    const user = await sessionUser(t, session);
    if (user !== undefined) t.standIn.model.administerAutoChannels(user);
    // A session the stand-in no longer knows may mean its state was lost (new access hashes, maybe
    // a new user): the access hashes the worker cached for the account are resolved again.
    await db.query('delete from private.account_peers where account_id = $1', [accountId]);
    await storeSession(db, key, accountId, session);
  }
  await writeFile(phonesFile(t.home), `${JSON.stringify(phones, null, 2)}\n`, { mode: 0o600 });
  await t.save(); // the new authorizations are on disk as soon as the worker may use them
  return accountIds.length;
}

/**
 * At start: every account with no session the stand-in still knows is signed in (a stored one
 * is kept); then, until stop(), each account that appears without a session is signed in within
 * about a second, and the worker serves it with no restart.
 */
export async function autoSignIn(
  t: StackTelegram,
  o: { dbUrl: string; key: SessionKey; log: (line: string) => void },
): Promise<{ accounts: number; newSessions: number; stop(): Promise<void> }> {
  const db = new pg.Client({ connectionString: o.dbUrl });
  await db.connect();
  const ids = async () =>
    (await db.query<{ id: string }>('select id from public.telegram_accounts order by created_at, id')).rows;
  const stored = await storedSessions(db, o.key);
  const all = await ids();
  const stale: string[] = [];
  for (const { id } of all) {
    const user = stored.has(id) ? await sessionUser(t, stored.get(id)!) : undefined;
    if (user === undefined) stale.push(id);
    else t.standIn.model.administerAutoChannels(user);
  }
  const newSessions = await signIn(t, db, o.key, stale);
  let stopped = false;
  const poll = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      if (stopped) break;
      try {
        const have = new Set((await sessionAccounts(db, 100_000)).map((s) => s.accountId));
        const missing = (await ids()).map((r) => r.id).filter((id) => !have.has(id));
        if (await signIn(t, db, o.key, missing)) o.log(`signed in to the stand-in: ${missing.join(', ')}`);
      } catch (err) {
        o.log(`auto sign-in: ${String(err)}`);
      }
    }
  })();
  return {
    accounts: all.length,
    newSessions,
    async stop() {
      stopped = true;
      await poll;
      await db.end();
    },
  };
}

/** Where the stand-in is, the key the stack seals sessions with, and whose stored session to use. */
export interface StoredAccount {
  entry: StandInEntry;
  key: SessionKey;
  dbUrl: string;
  accountId: string;
}

/** Runs `fn` with a GramJS client connected to the stand-in on the account's stored session. */
export async function withAccountClient<T>(o: StoredAccount, fn: (client: TelegramClient) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: o.dbUrl });
  await db.connect();
  const [sealed] = await readSealedSessions(db, [o.accountId]).finally(() => db.end());
  if (!sealed) throw new Error(`account ${o.accountId} has no stored session`);
  const client = standInClient(o.entry, { session: openSealed([o.key], sealed.session) });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.destroy();
  }
}

/**
 * What the stand-in holds in each of the channels, newest first, read back through MTProto
 * (messages.getHistory with the account's own stored session and the access hashes the worker
 * cached for it in private.account_peers); `out`: posted by this account. Refuses when the account
 * did not resolve every channel, so that nothing goes uncounted.
 */
export async function standInPosts(
  o: StoredAccount & { channelIds: string[] },
): Promise<Array<Array<{ text: string; out: boolean }>>> {
  const db = new pg.Client({ connectionString: o.dbUrl });
  await db.connect();
  const peers = await db.query<{ telegram_id: string; access_hash: string }>(
    `select telegram_id::text, access_hash::text from private.account_peers
      where account_id = $1 and channel_id = any($2::uuid[]) order by array_position($2::uuid[], channel_id)`,
    [o.accountId, o.channelIds],
  ).finally(() => db.end());
  if (peers.rows.length !== o.channelIds.length) {
    throw new Error(`the account resolved ${peers.rows.length} of the ${o.channelIds.length} channels: no post to count`);
  }
  return await withAccountClient(o, async (client) => {
    const out: Array<Array<{ text: string; out: boolean }>> = [];
    for (const p of peers.rows) {
      const [channelId] = utils.resolveId(returnBigInt(p.telegram_id));
      const peer = new Api.InputPeerChannel({ channelId, accessHash: returnBigInt(p.access_hash) });
      const res = await client.invoke(new Api.messages.GetHistory({ peer, limit: 100 })) as Api.messages.ChannelMessages;
      out.push((res.messages as Api.Message[]).map((m) => ({ text: m.message, out: m.out === true })));
    }
    return out;
  });
}
