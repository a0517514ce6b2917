// Owners, channels and campaigns made the way a client's request makes them: as the user,
// under RLS, through the campaign RPCs.
import pg from 'pg';
import { asUser, createCampaignAs, createUser, type TxClient } from '../lib/database.ts';
import type { AppDatabase } from './cluster.ts';

/** Epoch milliseconds with sub-millisecond resolution (comparable across local processes). */
export const now = (): number => performance.timeOrigin + performance.now();

export interface Owner {
  userId: string;
  accountId: string;
  channelIds: string[];
  /** Stored (normalised) peers, index-aligned with channelIds. */
  peers: string[];
}

/** A user with one Telegram account paced at ratePerMinute and `channels` channels. */
export async function seedOwner(
  db: AppDatabase,
  c: pg.Client,
  opts: { channels: number; ratePerMinute: number; tag: string },
): Promise<Owner> {
  const userId = await createUser(db.adminUrl);
  return await asUser(c, userId, async (t) => {
    const acc = await t.query(`insert into public.telegram_accounts (label, rate_per_minute) values ('bench', $1) returning id`, [
      opts.ratePerMinute,
    ]);
    const ch = await t.query(
      `insert into public.channels (peer) select '@b_' || $1 || '_' || g from generate_series(1, $2::int) g
       returning id, peer`,
      [opts.tag, opts.channels],
    );
    return { userId, accountId: acc.rows[0].id, channelIds: ch.rows.map((r) => r.id), peers: ch.rows.map((r) => r.peer) };
  });
}

export async function createCampaign(
  c: TxClient,
  userId: string,
  opts: { channelIds: string[]; name?: string; ratePerMinute?: number | null; text?: string },
): Promise<string> {
  return await asUser(c, userId, (t) =>
    createCampaignAs(t, {
      channelIds: opts.channelIds,
      name: opts.name ?? 'bench',
      message: { text: opts.text ?? 'Hello from the benchmark' },
      ratePerMinute: opts.ratePerMinute,
    }));
}

const ACTIONS = {
  start: 'start_campaign',
  pause: 'pause_campaign',
  resume: 'resume_campaign',
  cancel: 'cancel_campaign',
  'retry-failed': 'retry_failed_deliveries',
} as const;
export type CampaignAction = keyof typeof ACTIONS;

/** Calls a campaign RPC as the user; resolves once committed, with the commit time. */
export async function campaignAction(c: TxClient, userId: string, action: CampaignAction, campaignId: string): Promise<number> {
  await asUser(c, userId, (t) => t.query(`select public.${ACTIONS[action]}($1)`, [campaignId]));
  return now();
}

export interface CampaignRow {
  id: string;
  state: string;
  total_count: number;
  pending_count: number;
  sent_count: number;
  failed_count: number;
  cancelled_count: number;
  started_at: Date | null;
  completed_at: Date | null;
}

/**
 * One connection for polling, reopened after an error (Postgres restarting): `query` rejects
 * while the server is away and works again once it is back, without a new login per poll.
 */
export function pollingClient(url: string) {
  let c: pg.Client | null = null;
  return {
    async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
      try {
        if (!c) {
          const fresh = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
          fresh.on('error', () => {});
          c = fresh;
          await fresh.connect();
        }
        return (await c.query<R>(text, values)).rows;
      } catch (err) {
        await c?.end().catch(() => {});
        c = null;
        throw err;
      }
    },
    async end(): Promise<void> {
      await c?.end().catch(() => {});
      c = null;
    },
  };
}

/**
 * Polls until every campaign is completed or cancelled, bounded by timeoutMs. Returns the rows
 * as last seen and when settling was first observed, so callers report what did not finish
 * instead of hanging.
 */
export async function waitSettled(
  url: string,
  ids: string[],
  timeoutMs: number,
  everyMs = 50,
): Promise<{ rows: CampaignRow[]; settled: boolean; at: number }> {
  const deadline = Date.now() + timeoutMs;
  const poll = pollingClient(url);
  let rows: CampaignRow[] = [];
  try {
    for (;;) {
      rows = await poll.query<CampaignRow>('select * from public.campaigns where id = any($1::uuid[]) order by created_at', [ids])
        .catch(() => rows); // Postgres away for a moment: keep the last view
      const at = now();
      const settled = rows.length === ids.length && rows.every((r) => r.state === 'completed' || r.state === 'cancelled');
      if (settled || Date.now() > deadline) return { rows, settled, at };
      await new Promise((r) => setTimeout(r, everyMs));
    }
  } finally {
    await poll.end();
  }
}
