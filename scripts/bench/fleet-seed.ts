// A fleet for the fleet benchmark, made set-based so 1,000 accounts take seconds: 50 accounts
// per user (the product's per-user limit, private.telegram_accounts_limit), each account with
// its own channels (the simulator limits messages per chat, as Telegram does, so accounts must
// not share chats) and its campaigns, created through create_campaign as their owner.
import pg from 'pg';
import { asUser, createUser, withClient } from '../lib/database.ts';
import type { AppDatabase } from './cluster.ts';
import { now } from './seed.ts';

/** The product's limit of Telegram accounts per user. */
export const ACCOUNTS_PER_USER = 50;

export interface FleetShape {
  accounts: number;
  campaignsPerAccount: number;
  /** Targets of each campaign (an account's campaigns share its channels). */
  targets: number;
  ratePerMinute: number;
}

export interface Fleet {
  owners: Array<{ userId: string; accountIds: string[]; campaignIds: string[] }>;
  accountIds: string[];
  campaignIds: string[];
}

/** Users, accounts, channels and draft campaigns; `targets` 0 makes idle accounts only. */
export async function seedFleet(db: AppDatabase, shape: FleetShape): Promise<Fleet> {
  const c = new pg.Client({ connectionString: db.url, application_name: 'tg-bench seed' });
  await c.connect();
  try {
    const perUser = await accountsPerUser(db, shape.campaignsPerAccount);
    const users = Math.ceil(shape.accounts / perUser);
    const owners: Fleet['owners'] = [];
    for (let u = 0; u < users; u++) {
      const n = Math.min(perUser, shape.accounts - u * perUser);
      const userId = await createUser(db.adminUrl);
      owners.push(await asUser(c, userId, (t) => seedOwnerFleet(t, u, n, shape)).then((o) => ({ userId, ...o })));
    }
    return { owners, accountIds: owners.flatMap((o) => o.accountIds), campaignIds: owners.flatMap((o) => o.campaignIds) };
  } finally {
    await c.end();
  }
}

/**
 * Accounts per user: the account limit, and few enough that a user's campaigns stay within the
 * draft_campaigns quota (private.quota_limits) while they are created: the bench changes no quota.
 */
async function accountsPerUser(db: AppDatabase, campaignsPerAccount: number): Promise<number> {
  const drafts = await withClient(db.adminUrl, async (c) => {
    const { rows } = await c.query<{ v: number | null }>(
      `select case when to_regclass('private.quota_limits') is not null then
         (select value from private.quota_limits where name = 'draft_campaigns') end as v`,
    ).catch(() => ({ rows: [{ v: null }] }));
    return rows[0]?.v ?? null;
  });
  return drafts && campaignsPerAccount > 0
    ? Math.max(1, Math.min(ACCOUNTS_PER_USER, Math.floor(drafts / campaignsPerAccount)))
    : ACCOUNTS_PER_USER;
}

async function seedOwnerFleet(
  t: pg.ClientBase,
  u: number,
  n: number,
  shape: FleetShape,
): Promise<{ accountIds: string[]; campaignIds: string[] }> {
  const acc = await t.query<{ id: string }>(
    `insert into public.telegram_accounts (label, rate_per_minute)
     select 'fleet ' || lpad(g::text, 4, '0'), $2 from generate_series(1, $1::int) g returning id`,
    [n, shape.ratePerMinute],
  );
  const accountIds = acc.rows.map((r) => r.id);
  if (shape.targets === 0 || shape.campaignsPerAccount === 0) return { accountIds, campaignIds: [] };
  // Peers unique across the fleet: @f<user>a<account>x<i>.
  await t.query(
    `insert into public.channels (peer)
     select '@f' || $1::int || 'a' || a || 'x' || i from generate_series(1, $2::int) a, generate_series(1, $3::int) i`,
    [u, n, shape.targets],
  );
  const camp = await t.query<{ id: string }>(
    `with acct as (select id, row_number() over (order by label) as a from public.telegram_accounts)
     select (public.create_campaign(
       p_name => 'fleet ' || acct.a || '/' || k,
       p_channel_ids => (select array_agg(ch.id order by ch.peer) from public.channels ch
                          where ch.peer like '@f' || $1::int || 'a' || acct.a || 'x%'),
       p_message => $3::jsonb, p_account_id => acct.id)).id
     from acct, generate_series(1, $2::int) k order by k, acct.a`,
    [u, shape.campaignsPerAccount, JSON.stringify({ text: 'Hello from the fleet benchmark', parseMode: 'plain' })],
  );
  return { accountIds, campaignIds: camp.rows.map((r) => r.id) };
}

/**
 * Starts every campaign of the fleet in ONE transaction (each owner's through start_campaign as
 * that owner), so they all start at the commit: the time returned.
 */
export async function startFleet(db: AppDatabase, fleet: Fleet): Promise<number> {
  const c = new pg.Client({ connectionString: db.url, application_name: 'tg-bench start' });
  await c.connect();
  try {
    await c.query('begin');
    await c.query(`select set_config('role', 'authenticated', true), set_config('request.method', 'POST', true)`);
    for (const o of fleet.owners) {
      if (!o.campaignIds.length) continue;
      const claims = {
        sub: o.userId,
        role: 'authenticated',
        aud: 'authenticated',
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 3600,
      };
      await c.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
      await c.query('select count(public.start_campaign(id)) from unnest($1::uuid[]) as id', [o.campaignIds]);
    }
    await c.query('commit');
    return now();
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    await c.end();
  }
}
