// The reach sampler's SQL: thin calls of the worker_reach_* RPCs (migration *_reach.sql).
import type { SqlExecutor } from '../db.ts';

/** A round's job, active for this worker: the posts of `campaignId` sent within [sentFrom, sentTo). */
export interface ReachJob {
  jobId: string;
  campaignId: string;
  accountId: string;
  round: string;
}

/** A post to sample; telegramId null: the account has no peer stored for its channel. */
export interface ReachTarget {
  deliveryId: string;
  messageId: number;
  telegramId: string | null;
  accessHash: string | null;
}

/** One post's sample: its figures, or why there are none. */
export interface ReachSample {
  deliveryId: string;
  views: number | null;
  forwards: number | null;
  replies: number | null;
  reactions: number | null;
  errorCode: string | null;
}

/** At most one due job per account, of accounts whose lock the session `lockPid` holds. */
export async function takeJobs(db: SqlExecutor, lockPid: number, accountIds: string[]): Promise<ReachJob[]> {
  const { rows } = await db.query('select * from public.worker_reach_take($1, $2::uuid[])', [lockPid, accountIds]);
  return rows.map((r) => ({ jobId: r.job_id, campaignId: r.campaign_id, accountId: r.account_id, round: r.round }));
}

/** The job's next posts not yet sampled by it, grouped by peer. */
export async function targets(db: SqlExecutor, jobId: string, limit: number): Promise<ReachTarget[]> {
  const { rows } = await db.query('select * from public.worker_reach_targets($1, $2)', [jobId, limit]);
  return rows.map((r) => ({
    deliveryId: r.delivery_id,
    messageId: Number(r.message_id),
    telegramId: r.telegram_id === null ? null : String(r.telegram_id),
    accessHash: r.access_hash === null ? null : String(r.access_hash),
  }));
}

export async function store(db: SqlExecutor, jobId: string, samples: ReachSample[]): Promise<void> {
  await db.query('select public.worker_reach_store($1, $2::jsonb)', [jobId, JSON.stringify(samples)]);
}

export async function finish(db: SqlExecutor, jobId: string): Promise<void> {
  await db.query('select public.worker_reach_finish($1)', [jobId]);
}

export async function defer(db: SqlExecutor, jobId: string, at: number): Promise<void> {
  await db.query('select public.worker_reach_defer($1, $2)', [jobId, new Date(at).toISOString()]);
}
