// What a failed Telegram call means for its delivery (worker/README.md, "Telegram limits it
// respects"): the outcome recorded, and whether it spends an attempt.
import type { WorkerConfig } from './config.ts';
import type * as db from './db.ts';
import { type Classified, inFlightDelayMs, retryDelayMs } from './errors.ts';

type Unsettled<T> = T extends unknown ? Omit<T, 'deliveryId' | 'jobId' | 'accountId' | 'campaignId'> : never;
export type RowOutcome = Unsettled<db.Outcome>;

export interface FailureContext {
  /** Attempts the delivery has used before this one. */
  attempts: number;
  /** False while Telegram cannot be reached for the account (checked after a timeout). */
  reachable: boolean;
  /** How many times in a row Telegram answered RANDOM_ID_DUPLICATE for it (this one included). */
  duplicates: number;
  config: Pick<WorkerConfig, 'retryBaseSeconds' | 'retryJitter'>;
}

const at = (ms: number) => new Date(Date.now() + ms).toISOString();

export function outcomeOf(c: Classified, ctx: FailureContext): RowOutcome {
  const error = { errorCode: c.code, errorMessage: c.message };
  switch (c.kind) {
    case 'flood_wait':
    case 'account':
      // Not attempted: the account's campaigns pause (in the same commit) and resume sends it.
      return { outcome: 'deferred', ...error };
    case 'slowmode':
    case 'upload_wait':
      // Only this chat (slow mode), or only uploads (FLOOD_PREMIUM_WAIT), wait: no attempt spent.
      return { outcome: 'reschedule', retryAt: at(c.seconds * 1000), ...error };
    case 'in_flight':
      // Accepted and still in flight at Telegram: ask again later, never a failure.
      return { outcome: 'reschedule', retryAt: at(inFlightDelayMs(ctx.duplicates)), ...error };
    case 'permanent':
      return { outcome: 'failed', ...error };
    case 'transient': {
      if (c.unknown && !ctx.reachable) return { outcome: 'reschedule', retryAt: at(0), ...error };
      const delay = retryDelayMs(ctx.attempts + 1, ctx.config.retryBaseSeconds, ctx.config.retryJitter);
      if (delay !== null) return { outcome: 'retry', retryAt: at(delay), ...error };
      return { outcome: c.unknown ? 'unconfirmed' : 'failed', ...error };
    }
  }
}
