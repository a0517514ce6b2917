// The worker's two statements for actions on sent posts (public.worker_take_actions and
// public.worker_record_actions, migration 20261208200000_post_actions.sql).
import type { MediaKind, MediaRef, ParseMode } from '../gateway/types.ts';
import type { SqlExecutor, Want } from '../db.ts';

export type ActionKind = 'edit' | 'delete' | 'pin' | 'unpin';

/** A claimed action on one sent post: what to do ('skip': nothing, with the reason) and where. */
export interface ActionRow {
  job_id: string;
  action_id: string;
  delivery_id: string;
  campaign_id: string;
  account_id: string;
  action: ActionKind | 'skip';
  reason: string | null;
  channel_id: string | null;
  peer: string;
  telegram_id: string | null;
  access_hash: string | null;
  /** The post's Telegram message id (a string: ids may exceed 2^53). */
  message_id: string;
  attempts: number;
  /** An edit's message version; the campaign's current text, parse mode and link preview are it. */
  version: number | null;
  message_text: string;
  parse_mode: ParseMode;
  link_preview: boolean;
  silent: boolean;
  /** The campaign's file (null: text posts) and this account's upload of it: an edit gives the posts this file. */
  media_path: string | null;
  media_kind: MediaKind | null;
  media_mime: string | null;
  media_ref: MediaRef | null;
}

export const isActionRow = (r: { action: string }): r is ActionRow =>
  r.action === 'edit' || r.action === 'delete' || r.action === 'pin' || r.action === 'unpin' ||
  (r.action === 'skip' && 'action_id' in r);

/** Due action jobs of the accounts, up to each want's limit. */
export async function takeActions(db: SqlExecutor, lockPid: number, wants: Want[]): Promise<ActionRow[]> {
  const asked = wants.filter((w) => w.limit > 0).map((w) => ({ accountId: w.accountId, limit: w.limit }));
  if (!asked.length) return [];
  const { rows } = await db.query('select * from public.worker_take_actions($1, $2::jsonb)', [
    lockPid,
    JSON.stringify(asked),
  ]);
  return rows as ActionRow[];
}

/** What came of one action; retry and deferred queue it again (at retryAt, or now). */
export interface ActionOutcome {
  actionId: string;
  jobId: string;
  accountId: string;
  outcome: 'done' | 'failed' | 'retry' | 'deferred' | 'skip';
  errorCode?: string;
  errorMessage?: string;
  retryAt?: string;
}

/** Extra fields (a delivery's outcome's) are ignored by the statement. */
export async function recordActions(
  db: SqlExecutor,
  outcomes: Array<Omit<ActionOutcome, 'outcome'> & { outcome: string }>,
): Promise<void> {
  await db.query('select public.worker_record_actions($1::jsonb)', [JSON.stringify(outcomes)]);
}
