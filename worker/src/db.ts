// The worker's SQL: thin typed calls of the worker RPCs (supabase/migrations/*_worker_rpcs.sql),
// always on the executor of the current pg-boss transaction.
import type { SqlExecutor } from './locks.ts';

export interface ClaimRow {
  job_id: string;
  delivery_id: string;
  campaign_id: string;
  account_id: string;
  action: 'send' | 'skip';
  reason: string | null;
  channel_id: string | null;
  peer: string;
  telegram_id: string | null;
  access_hash: string | null;
  random_id: string;
  attempts: number;
  message_text: string;
  parse_mode: 'html' | 'markdown' | 'plain';
  silent: boolean;
  link_preview: boolean;
  campaign_rate_per_minute: number | null;
  /** The campaign's failures when claimed (after its lock) and its threshold (null = none). */
  campaign_failed_count: number;
  campaign_max_errors: number | null;
}

export type Outcome =
  | { deliveryId: string; outcome: 'sent'; messageId: number }
  | { deliveryId: string; outcome: 'failed'; errorCode: string; errorMessage: string }
  | { deliveryId: string; outcome: 'retry'; errorCode: string; errorMessage: string; retryAt: string }
  | { deliveryId: string; outcome: 'reschedule'; retryAt: string; errorCode?: string; errorMessage?: string }
  | { deliveryId: string; outcome: 'deferred'; errorCode?: string; errorMessage?: string };

export interface CampaignState {
  id: string;
  state: string;
  pauseReason: string | null;
  pending: number;
  sent: number;
  failed: number;
}

export async function claim(tx: SqlExecutor, jobs: Array<{ jobId: string; deliveryId: string }>): Promise<ClaimRow[]> {
  const { rows } = await tx.executeSql('select * from public.worker_claim($1::jsonb)', [JSON.stringify(jobs)]);
  return rows as ClaimRow[];
}

export async function record(tx: SqlExecutor, results: Outcome[]): Promise<CampaignState[]> {
  const { rows } = await tx.executeSql('select public.worker_record($1::jsonb) as r', [JSON.stringify(results)]);
  return (rows[0]?.r ?? []) as CampaignState[];
}

export async function floodWait(tx: SqlExecutor, accountId: string, seconds: number): Promise<Date> {
  const { rows } = await tx.executeSql('select public.worker_flood_wait($1, $2) as until', [accountId, seconds]);
  return new Date(rows[0].until);
}

export async function setAccountStatus(tx: SqlExecutor, accountId: string, status: 'peer_flood' | 'revoked' | 'disabled' | 'active', reason: string): Promise<void> {
  await tx.executeSql('select public.worker_account_status($1, $2, $3)', [accountId, status, reason]);
}

export async function setChannelPeer(tx: SqlExecutor, channelId: string, telegramId: string, accessHash: string | null): Promise<void> {
  await tx.executeSql('select public.worker_set_channel_peer($1, $2::bigint, $3::bigint)', [channelId, telegramId, accessHash]);
}

export async function resumeDue(tx: SqlExecutor, accountId: string): Promise<number> {
  const { rows } = await tx.executeSql('select public.worker_resume_due($1) as n', [accountId]);
  return Number(rows[0]?.n ?? 0);
}

export interface AccountRow {
  id: string;
  status: string;
  rate_per_minute: number;
  flood_wait_until: Date | null;
}

/** waitForWriters: read the rows as committed after any transaction now updating them (for share). */
export async function readAccounts(db: SqlExecutor, ids: string[] | null, opts: { waitForWriters?: boolean } = {}): Promise<AccountRow[]> {
  const { rows } = await db.executeSql(
    `select id, status, rate_per_minute, flood_wait_until from public.telegram_accounts
     where $1::uuid[] is null or id = any ($1::uuid[]) order by created_at, id${opts.waitForWriters ? ' for share' : ''}`, [ids]);
  return rows as AccountRow[];
}
