// What every part of one account shares: its id, the worker's services, its pacer, media,
// queue and session, its status, and where the outcome of a claimed row goes.
import type { CampaignQueues } from '../campaign-queue.ts';
import type { WorkerConfig } from '../config.ts';
import type * as db from '../db.ts';
import type { TelegramGateway } from '../gateway/types.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { RowOutcome } from '../outcomes.ts';
import type { AccountPacer } from '../pacing.ts';
import type { Recorder } from '../recorder.ts';
import type { AccountMedia } from './media.ts';

export type AccountStatus =
  | 'waiting_lock'
  | 'starting'
  | 'running'
  | 'flood_wait'
  | 'unreachable'
  | 'account_stopped'
  | 'session_lost'
  | 'stopped';

export interface AccountDeps {
  config: WorkerConfig;
  log: Logger;
  metrics: Metrics;
  recorder: Recorder;
  createGateway(accountId: string): TelegramGateway;
  /** The account has (or will have at `at`) jobs to fetch. */
  wake(accountId: string, at?: number): void;
  /** The account's queue ran low: fetch for it if it has jobs. */
  hungry(accountId: string): void;
  /** Deliveries of a campaign without a clearance were queued: ask for one now. */
  uncleared(): void;
}

export interface AccountState {
  readonly status: AccountStatus;
  readonly statusReason: string | null;
  setStatus(s: AccountStatus, reason?: string | null): void;
}

export interface AccountContext {
  readonly id: string;
  readonly deps: AccountDeps;
  readonly pacer: AccountPacer;
  readonly media: AccountMedia;
  /** Claimed deliveries waiting for their slot, per campaign. */
  readonly queue: CampaignQueues;
  /** The account's status, read and set live. */
  readonly account: AccountState;
  /** The connected session (there is one from start() until stop()). */
  gateway(): TelegramGateway;
}

/** The outcome of a claimed row (test: a test send's) to the recorder, with a new upload's reference. */
export function record(ctx: AccountContext, row: db.ClaimRow, o: RowOutcome, test = false): void {
  ctx.deps.metrics.outcomes.inc({ account: ctx.id, outcome: test ? `test_${o.outcome}` : o.outcome });
  ctx.deps.recorder.add({
    ...o,
    deliveryId: row.delivery_id,
    jobId: row.job_id,
    accountId: ctx.id,
    campaignId: row.campaign_id,
    ...(test && { test }),
    ...(row.media_path && ctx.media.takeUnstored(row)),
  } as db.Outcome);
}
