// Test world for the worker: an isolated database (cloned from the migrated template), a user,
// a Telegram account, channels and campaigns created through the real RPCs.
import pg from 'pg';
import { onTestFinished } from 'vitest';
import { asUser, createCampaignAs, createTestDatabase, createUser, type TestDatabase } from '../../scripts/test/db.ts';
import { Api } from 'telegram';
import type { Account } from '../src/account/account.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import type { WorkerConfigInput } from '../src/config.ts';
import { type RunningWorker, startWorker } from '../src/worker.ts';
import { createLogger } from '../src/logger.ts';

export interface World {
  db: TestDatabase;
  sql: pg.Client;
  userId: string;
  accountId: string;
}

export async function createWorld(opts: { ratePerMinute?: number } = {}): Promise<World> {
  const db = await createTestDatabase({ prefix: 'tg_worker' });
  const userId = await createUser(db);
  const sql = await db.connect();
  const accountId = await addAccount(sql, userId, opts.ratePerMinute ?? 6000);
  // Dropped when the test ends (after the workers it started: finish hooks run last-in, first-out).
  onTestFinished(() => db.drop());
  return { db, sql, userId, accountId };
}

/** startWorker, stopped when the test ends (before its world is dropped). */
export async function startTestWorker(...args: Parameters<typeof startWorker>): Promise<RunningWorker> {
  const worker = await startWorker(...args);
  onTestFinished(() => worker.stop());
  return worker;
}

/** A simulator that also notes when each send reached it, answered or not (hung, failed). */
export class RecordingSimulator extends TelegramSimulator {
  readonly requests: Array<{ chat: string; at: number }> = [];
  override handle(accountId: string, request: Api.AnyRequest): Promise<unknown> {
    if (request instanceof Api.messages.SendMessage && request.peer instanceof Api.InputPeerChannel) {
      this.requests.push({ chat: `-100${request.peer.channelId}`, at: this.clock.now() });
    }
    return super.handle(accountId, request);
  }

  /** When sends to `peer` (as stored on the channel) reached the simulator. */
  requestTimes(peer: string): number[] {
    const chat = TelegramSimulator.markedIdFor(peer);
    return this.requests.filter((r) => r.chat === chat).map((r) => r.at);
  }
}

/**
 * The times the account's pacer grants slots from now on, by its own clock: what its rate
 * guard counts. Timestamps taken later (the simulator's) also carry the machine's delays.
 */
export function recordGrants(account: Account): Array<{ campaignId: string; at: number }> {
  const grants: Array<{ campaignId: string; at: number }> = [];
  const take = account.pacer.take.bind(account.pacer);
  account.pacer.take = (campaignId, rate, backlogged) => {
    const at = take(campaignId, rate, backlogged);
    grants.push({ campaignId, at });
    return at;
  };
  return grants;
}

/** Most timestamps (sorted) found in any half-open 1-second window. */
export function maxPerSecond(times: number[]): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

export async function addAccount(sql: pg.Client, userId: string, ratePerMinute: number): Promise<string> {
  const { rows } = await sql.query(
    `insert into public.telegram_accounts (owner_id, label, rate_per_minute) values ($1, 'test', $2) returning id`,
    [userId, ratePerMinute],
  );
  return rows[0].id;
}

/** Channels @<prefix>_<i> (valid usernames), returns their ids and peers in order. */
export async function addChannels(w: World, n: number, prefix = 'chan'): Promise<{ ids: string[]; peers: string[] }> {
  const { rows } = await w.sql.query(
    `insert into public.channels (owner_id, peer)
     select $1, '@' || $2 || '_' || lpad(i::text, 5, '0') from generate_series(1, $3) i
     returning id, peer`,
    [w.userId, prefix, n],
  );
  rows.sort((a, b) => (a.peer < b.peer ? -1 : 1));
  return { ids: rows.map((r) => r.id), peers: rows.map((r) => r.peer) };
}

export interface CampaignOptions {
  channelIds: string[];
  text?: string;
  parseMode?: 'html' | 'markdown' | 'plain';
  ratePerMinute?: number;
  maxErrors?: number;
  accountId?: string;
  start?: boolean;
}

export async function createCampaign(w: World, o: CampaignOptions): Promise<string> {
  const id = await asUser(w.sql, w.userId, (t) =>
    createCampaignAs(t, {
      name: 'test',
      channelIds: o.channelIds,
      message: { text: o.text ?? 'hello <b>world</b>', parseMode: o.parseMode ?? 'html' },
      accountId: o.accountId ?? w.accountId,
      ratePerMinute: o.ratePerMinute,
      maxErrors: o.maxErrors,
    }));
  if (o.start !== false) await startCampaign(w, id);
  return id;
}

export async function startCampaign(w: World, id: string): Promise<void> {
  await asUser(w.sql, w.userId, (t) => t.query('select public.start_campaign($1)', [id]));
}

export interface CampaignRow {
  id: string;
  state: string;
  pause_reason: string | null;
  resume_at: Date | null;
  total_count: number;
  pending_count: number;
  sent_count: number;
  failed_count: number;
}

export async function campaign(w: World, id: string): Promise<CampaignRow> {
  const { rows } = await w.sql.query('select * from public.campaigns where id = $1', [id]);
  return rows[0];
}

/**
 * Delivery rows counted by state: the ground truth the counters must equal. A state without rows
 * is absent (so `{ sent: 30 }` also says none is pending): an expected count that may be 0 must
 * be left out too, or made certain not to be 0.
 */
export async function deliveryCounts(w: World, campaignId: string): Promise<Record<string, number>> {
  const { rows } = await w.sql.query(
    'select state, count(*)::int as n from public.deliveries where campaign_id = $1 group by state',
    [campaignId],
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const waitForState = (w: World, id: string, state: string, timeoutMs = 30_000) =>
  waitFor(`campaign ${id} ${state}`, async () => {
    const c = await campaign(w, id);
    return c.state === state && c;
  }, timeoutMs);

export const testLogger = () => createLogger(process.env.WORKER_TEST_LOG ?? 'silent');

/** Worker config for tests: no HTTP, fast supervision, scaled retry delays. */
export function testConfig(w: World, o: Partial<WorkerConfigInput> = {}): WorkerConfigInput {
  return {
    databaseUrl: w.db.url,
    mode: 'simulator',
    accounts: [{ accountId: w.accountId }],
    httpPort: null,
    logLevel: 'silent',
    retryBaseSeconds: 0.2,
    superviseSeconds: 2,
    pollingSeconds: 1,
    accountRefreshMs: 1_000,
    accountLockRetryMs: 200,
    sendTimeoutMs: 2_000,
    ...o,
  };
}
