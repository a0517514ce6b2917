// Fixtures for database tests: a user with an account, channels and a draft campaign, all
// made through the same SQL a client's request would run (role authenticated + claims).
import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import {
  asUser,
  createCampaignAs,
  createTestDatabase,
  createUser,
  type TestDatabase,
  type TxClient,
} from '../../scripts/test/db.ts';

export interface Owner {
  userId: string;
  accountId: string;
  channelIds: string[];
}

/** A user with one Telegram account and `channels` channels named @chan_<tag>_<n>. */
export async function makeOwner(db: TestDatabase, client: pg.Client, channels: number, tag = 'x'): Promise<Owner> {
  const userId = await createUser(db);
  return asUser(client, userId, async (c) => {
    const acc = await c.query(`insert into public.telegram_accounts (label) values ('main') returning id`);
    const ch = await c.query(
      `insert into public.channels (peer) select '@chan_' || $1 || '_' || g from generate_series(1, $2::int) g returning id`,
      [tag, channels],
    );
    return { userId, accountId: acc.rows[0].id, channelIds: ch.rows.map((r) => r.id) };
  });
}

/** A campaign to every channel of the owner; `extra` goes into the message (e.g. parseMode). */
export function createCampaign(c: TxClient, owner: Owner, extra: Record<string, unknown> = {}): Promise<string> {
  return createCampaignAs(c, { name: 'c', channelIds: owner.channelIds, message: extra });
}

/** Runs fn as the owner and returns the SQLSTATE and message it raised. */
export async function sqlError(client: pg.Client, userId: string, fn: (c: TxClient) => Promise<unknown>) {
  try {
    await asUser(client, userId, fn);
  } catch (err) {
    const e = err as { code?: string; message: string; detail?: string };
    return { code: e.code, message: e.message, detail: e.detail };
  }
  throw new Error('expected an error, none was raised');
}

export interface OwnerDatabase {
  db: TestDatabase;
  client: pg.Client;
  owner: Owner;
}

/** A database of the file's own with one owner (makeOwner), made before its tests and dropped after. */
export function useOwnerDatabase(channels: number, tag = 'x'): OwnerDatabase {
  const t = {} as OwnerDatabase;
  beforeAll(async () => {
    t.db = await createTestDatabase();
    t.client = await t.db.connect();
    t.owner = await makeOwner(t.db, t.client, channels, tag);
  });
  afterAll(async () => {
    await t.db?.drop();
  });
  return t;
}
