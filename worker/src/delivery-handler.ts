// One batch of one account's delivery jobs, run inside pg-boss's transaction: claim, pace and
// send each claimed delivery, record every outcome, and let pg-boss complete the jobs in the same
// commit. A crash anywhere before the commit leaves the deliveries pending under the same jobs;
// pg-boss retries them and the resend carries the same random_id, so Telegram does not post twice.
import type { Logger } from 'pino';
import type { DeliveryJob } from '../../contracts/jobs.ts';
import type { WorkerConfig } from './config.ts';
import * as db from './db.ts';
import { classify, retryDelayMs, SendTimeoutError, withTimeout, type Classified } from './errors.ts';
import type { ResolvedPeer, TelegramGateway } from './gateway/types.ts';
import type { SqlExecutor } from './locks.ts';
import type { Metrics } from './metrics.ts';
import { roundRobin, type AccountPacer } from './pacing.ts';

/** What the handlers of one account share. */
export interface AccountContext {
  accountId: string;
  config: WorkerConfig;
  log: Logger;
  metrics: Metrics;
  gateway: TelegramGateway;
  pacer: AccountPacer;
  /** Peers resolved by this process (also stored on the channel). */
  peers: Map<string, ResolvedPeer>;
  /** True while this process holds the account's advisory lock (checked in the transaction). */
  lockHeld(tx: SqlExecutor): Promise<boolean>;
  /** Set when the worker shuts down: unsent rows go back to the queue at once. */
  stopping(): boolean;
  /** An account-level event seen by any handler; the first to see one records it (see below). */
  events: AccountEvents;
  /** Asks pg-boss to fetch again at `at` (a retry or a wake-up that NOTIFY will not announce). */
  wakeAt(at: number): void;
}

export class AccountEvents {
  floodUntil = 0;
  floodSeconds = 0;
  #floodOwned = false;
  stop: { status: 'peer_flood' | 'revoked'; reason: string; owned: boolean } | null = null;

  /** Returns true for the one handler that must call worker_flood_wait. */
  flood(seconds: number): boolean {
    const until = Date.now() + seconds * 1000;
    if (until <= this.floodUntil) return false;
    this.floodUntil = until;
    this.floodSeconds = seconds;
    if (this.#floodOwned) return false;
    this.#floodOwned = true;
    return true;
  }

  /** After the owner recorded it (or gave up), a later FLOOD_WAIT is recorded anew. */
  floodRecorded(): void {
    this.#floodOwned = false;
  }

  /** Returns true for the one handler that must call worker_account_status. */
  stopAccount(status: 'peer_flood' | 'revoked', reason: string): boolean {
    if (this.stop) return false;
    this.stop = { status, reason, owned: true };
    return true;
  }
}

export interface BatchSummary {
  jobs: number;
  sent: number;
  outcomes: Record<string, number>;
  /** Rows put back unsent because the batch deadline came first (churn; debug log). */
  late: number;
  flood?: { seconds: number; resumeAt: Date };
  accountStopped?: { status: string; reason: string };
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function handleDeliveryBatch(
  ctx: AccountContext,
  jobs: Array<{ id: string; data: DeliveryJob }>,
  tx: SqlExecutor,
): Promise<BatchSummary> {
  const started = Date.now();
  const cfg = ctx.config;
  const summary: BatchSummary = { jobs: jobs.length, sent: 0, outcomes: {}, late: 0 };
  // Fence: a worker that lost the account's lock must not send; throwing rolls back, pg-boss retries.
  if (!(await ctx.lockHeld(tx))) throw new Error(`account ${ctx.accountId}: advisory lock not held, refusing to send`);
  // Waiting for the first slot before claiming keeps campaign rows unlocked during the wait.
  const ready = ctx.pacer.readyIn();
  if (ready > 0) await sleep(Math.min(ready, 5_000));
  const tReady = Date.now();

  // The claim waits for any other batch holding the same campaigns; the deadline starts after it.
  const rows = await db.claim(tx, jobs.map((j) => ({ jobId: j.id, deliveryId: j.data.deliveryId })));
  const tClaimed = Date.now();
  const deadline = tClaimed + cfg.batchDeadlineMs;
  const toSend = roundRobin(rows.filter((r) => r.action === 'send'), (r) => r.campaign_id);
  const errorBudget = new ErrorBudget();
  /** Peers resolved in this batch, stored on their channels with the outcomes (one query at a time on tx). */
  const newPeers = new Map<string, ResolvedPeer>();
  let floodOwner = false;
  let stopOwner = false;

  const deliver = async (row: db.ClaimRow): Promise<db.Outcome> => {
    const requeue = (at: number, why?: string): db.Outcome => ({ deliveryId: row.delivery_id, outcome: 'reschedule', retryAt: iso(Math.max(at, Date.now())), ...(why ? { errorCode: why } : {}) });
    const accountStopped = () => requeue(Date.now() + 60_000, ctx.events.stop!.status.toUpperCase());
    if (ctx.events.stop) return accountStopped();
    if (ctx.stopping()) return requeue(Date.now());
    if (Date.now() > deadline) {
      summary.late++;
      return requeue(Date.now());
    }
    let peer: ResolvedPeer;
    try {
      peer = await resolvePeer(ctx, row);
      if (!row.telegram_id && row.channel_id) newPeers.set(row.channel_id, peer);
    } catch (err) {
      return onError(row, classify(err));
    }
    const grant = await ctx.pacer.acquire(row.campaign_id, row.campaign_rate_per_minute, deadline);
    // Checked first: a send waiting for its slot when the account stopped gets retryAt Infinity.
    if (ctx.events.stop) return accountStopped();
    if (!grant.ok) {
      if (!grant.blocked) summary.late++;
      return requeue(grant.retryAt);
    }
    const t0 = performance.now();
    const sentAt = Date.now();
    const sending = withTimeout(ctx.gateway.send({
      peer, text: row.message_text, parseMode: row.parse_mode, silent: row.silent,
      linkPreview: row.link_preview, randomId: row.random_id,
    }), cfg.sendTimeoutMs, 'SendMessage');
    try {
      const answer = cfg.sendReleaseMs < cfg.sendTimeoutMs ? await unlessSlower(sending, cfg.sendReleaseMs) : await sending;
      ctx.metrics.sendLatency.observe({ account: ctx.accountId }, (performance.now() - t0) / 1000);
      if (answer === RELEASED) {
        // A hung send must not keep the batch's transaction, and the campaign rows it locks, open
        // for the whole timeout. Its late answer is ignored: the retry, after the timeout, carries
        // the same random_id, so Telegram answers it with the message if this one got through.
        sending.catch(() => {});
        const err = new SendTimeoutError(`SendMessage unanswered after ${cfg.sendReleaseMs} ms; retried after its ${cfg.sendTimeoutMs} ms timeout`);
        return onError(row, classify(err), sentAt + cfg.sendTimeoutMs);
      }
      return { deliveryId: row.delivery_id, outcome: 'sent', messageId: answer.messageId };
    } catch (err) {
      ctx.metrics.sendLatency.observe({ account: ctx.accountId }, (performance.now() - t0) / 1000);
      return onError(row, classify(err));
    }
  };

  /** `from`: when the failed attempt counts as over (a released send: when its timeout ends). */
  const onError = (row: db.ClaimRow, c: Classified, from = Date.now()): db.Outcome => {
    const base = { deliveryId: row.delivery_id, errorCode: c.code, errorMessage: c.message };
    switch (c.kind) {
      case 'flood_wait': {
        ctx.metrics.floodWaits.inc({ account: ctx.accountId });
        if (ctx.events.flood(c.seconds)) {
          floodOwner = true;
          ctx.pacer.block(ctx.events.floodUntil);
        }
        // Not attempted: the delivery waits out the flood (its job is cancelled by the pause).
        return { ...base, outcome: 'reschedule', retryAt: iso(ctx.events.floodUntil) };
      }
      case 'slowmode':
        return { ...base, outcome: 'reschedule', retryAt: iso(Date.now() + c.seconds * 1000) };
      case 'transient': {
        const delay = retryDelayMs(row.attempts + 1, cfg.retryBaseSeconds, cfg.retryJitter);
        if (delay === null) return { ...base, outcome: 'failed' };
        ctx.wakeAt(from + delay);
        return { ...base, outcome: 'retry', retryAt: iso(from + delay) };
      }
      case 'permanent':
        return { ...base, outcome: 'failed' };
      case 'account':
        if (ctx.events.stopAccount(c.status, `${c.code}: ${c.message}`)) {
          stopOwner = true;
          ctx.pacer.block(Number.POSITIVE_INFINITY);
        }
        return { ...base, outcome: 'reschedule', retryAt: iso(Date.now() + 60_000) };
    }
  };

  const results = await mapConcurrent(toSend, cfg.sendConcurrency, async (row): Promise<db.Outcome> =>
    // Past max_errors the campaign pauses in this commit: its remaining rows go back unsent.
    (await errorBudget.guard(row, () => deliver(row))) ?? { deliveryId: row.delivery_id, outcome: 'deferred' });
  const tSent = Date.now();
  try {
    // Stored with the batch: later sends (and other workers) reuse them without a lookup.
    for (const [channelId, p] of newPeers) await db.setChannelPeer(tx, channelId, p.telegramId, p.accessHash);
    if (results.length) logOutcomes(ctx, toSend, results, await db.record(tx, results));
    if (floodOwner) {
      const resumeAt = await db.floodWait(tx, ctx.accountId, ctx.events.floodSeconds);
      summary.flood = { seconds: ctx.events.floodSeconds, resumeAt };
    }
    if (stopOwner && ctx.events.stop) {
      await db.setAccountStatus(tx, ctx.accountId, ctx.events.stop.status, ctx.events.stop.reason);
      summary.accountStopped = { status: ctx.events.stop.status, reason: ctx.events.stop.reason };
    }
  } finally {
    if (floodOwner) ctx.events.floodRecorded();
  }

  for (const r of results) {
    summary.outcomes[r.outcome] = (summary.outcomes[r.outcome] ?? 0) + 1;
    ctx.metrics.outcomes.inc({ account: ctx.accountId, outcome: r.outcome });
    if (r.outcome === 'reschedule') ctx.wakeAt(Date.parse(r.retryAt));
  }
  summary.sent = summary.outcomes.sent ?? 0;
  const skipped = rows.length - toSend.length;
  if (skipped) summary.outcomes.skip = skipped;
  ctx.metrics.batchDuration.observe({ account: ctx.accountId }, (Date.now() - started) / 1000);
  ctx.log.debug({ accountId: ctx.accountId, ...summary, ms: { pace: tReady - started, claim: tClaimed - tReady, send: tSent - tClaimed, record: Date.now() - tSent } }, 'batch');
  return summary;
}

/**
 * Failures each campaign of the batch may still have, so that it stops at the first failure past
 * max_errors (the SQL trigger pauses it on that one) even with sends in flight: a send starts only
 * while the sends in flight could not all fail beyond that one. The count comes from the claim,
 * which read it under the campaign's lock, so batches of one campaign never overlap here.
 */
class ErrorBudget {
  #campaigns = new Map<string, { left: number; inFlight: Set<Promise<unknown>> }>();

  /** Runs send for the row, or returns null when the campaign has reached its threshold. */
  async guard<T extends db.Outcome>(row: db.ClaimRow, send: () => Promise<T>): Promise<T | null> {
    if (row.campaign_max_errors === null) return send();
    let c = this.#campaigns.get(row.campaign_id);
    // At least one: a campaign the owner resumed past its threshold sends until its next failure.
    if (!c) this.#campaigns.set(row.campaign_id, c = { left: Math.max(1, row.campaign_max_errors - row.campaign_failed_count + 1), inFlight: new Set() });
    while (c.left > 0 && c.inFlight.size >= c.left) await Promise.race(c.inFlight);
    if (c.left <= 0) return null;
    const p = send();
    c.inFlight.add(p);
    try {
      const outcome = await p;
      if (outcome.outcome === 'failed') c.left--;
      return outcome;
    } finally {
      c.inFlight.delete(p);
    }
  }
}

const RELEASED = Symbol('released');

/** p's value, or RELEASED when it has not settled within ms (p keeps running). */
async function unlessSlower<T>(p: Promise<T>, ms: number): Promise<T | typeof RELEASED> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<typeof RELEASED>((r) => { timer = setTimeout(() => r(RELEASED), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

async function resolvePeer(ctx: AccountContext, row: db.ClaimRow): Promise<ResolvedPeer> {
  if (row.telegram_id) return { telegramId: row.telegram_id, accessHash: row.access_hash };
  const key = row.channel_id ?? row.peer;
  let p = ctx.peers.get(key);
  if (!p) {
    p = await withTimeout(ctx.gateway.resolvePeer(row.peer), ctx.config.sendTimeoutMs, 'peer resolution');
    ctx.peers.set(key, p);
  }
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Maps with at most `n` calls in flight, keeping the input order of results. */
async function mapConcurrent<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, lane));
  return out;
}

/**
 * What an operator wants in the log without turning on debug: each failure and retry with its
 * Telegram error, and each campaign the batch paused or completed. Sends stay at debug level.
 */
function logOutcomes(ctx: AccountContext, rows: db.ClaimRow[], results: db.Outcome[], campaigns: db.CampaignState[]): void {
  const campaignOf = new Map(rows.map((r) => [r.delivery_id, r.campaign_id]));
  for (const r of results) {
    if (r.outcome !== 'failed' && r.outcome !== 'retry') continue;
    const fields = { accountId: ctx.accountId, campaignId: campaignOf.get(r.deliveryId), deliveryId: r.deliveryId, errorCode: r.errorCode, errorMessage: r.errorMessage };
    if (r.outcome === 'failed') ctx.log.warn(fields, 'delivery failed');
    else ctx.log.info({ ...fields, retryAt: r.retryAt }, 'delivery will be retried');
  }
  for (const c of campaigns) {
    if (c.state !== 'running') ctx.log.info({ accountId: ctx.accountId, campaignId: c.id, state: c.state, pauseReason: c.pauseReason, sent: c.sent, failed: c.failed }, `campaign ${c.state}`);
  }
}
