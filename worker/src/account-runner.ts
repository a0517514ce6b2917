// Everything one Telegram account needs in this process: its advisory lock, its gateway, its
// pacer, and the pg-boss workers of its queue `delivery.<accountId>`.
import type { Db, Job, PgBoss } from 'pg-boss';
import { DeliveryJob, deliveryQueueName } from '../../contracts/jobs.ts';
import type { WorkerConfig } from './config.ts';
import * as db from './db.ts';
import { AccountEvents, handleDeliveryBatch, type AccountContext } from './delivery-handler.ts';
import { classify } from './errors.ts';
import type { ResolvedPeer, TelegramGateway } from './gateway/types.ts';
import { AccountLock, type SqlExecutor } from './locks.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { AccountPacer } from './pacing.ts';

export type AccountStatus = 'waiting_lock' | 'starting' | 'running' | 'session_lost' | 'account_stopped' | 'stopped';

export interface RunnerDeps {
  boss: PgBoss;
  config: WorkerConfig;
  log: Logger;
  metrics: Metrics;
  createGateway(accountId: string): TelegramGateway;
  /** Wakes the queue's workers at `at` (retries, reschedules, the FLOOD_WAIT resume). */
  wakeAt(queue: string, at: number): void;
  wakeNow(queue: string): void;
  /** Runs fn in its own transaction (status writes outside a batch). */
  inTransaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Jobs per batch: about batchSeconds of sending at the account's pace, shared by the handlers
 * that may run at once (one per campaign), so each batch commits within about batchSeconds even
 * when every handler is busy. Without pacing the batch is simply large, for throughput.
 */
export function batchSizeFor(ratePerMinute: number, cfg: Pick<WorkerConfig, 'batchSeconds' | 'maxBatchSize' | 'campaignConcurrency'>): number {
  const perHandler = ((ratePerMinute / 60) * cfg.batchSeconds) / cfg.campaignConcurrency;
  return Math.max(1, Math.min(cfg.maxBatchSize, Math.ceil(perHandler)));
}

export class AccountRunner {
  readonly accountId: string;
  readonly queue: string;
  status: AccountStatus = 'waiting_lock';
  statusReason: string | null = null;
  lastSentAt: number | null = null;
  #deps: RunnerDeps;
  #lock: AccountLock;
  #gateway: TelegramGateway | null = null;
  #pacer = new AccountPacer(20);
  #events = new AccountEvents();
  #peers = new Map<string, ResolvedPeer>();
  #workId: string | null = null;
  #batchSize = 0;
  #stopping = false;
  #loop: Promise<void> | null = null;

  constructor(accountId: string, deps: RunnerDeps) {
    this.accountId = accountId;
    this.queue = deliveryQueueName(accountId);
    this.#deps = deps;
    this.#lock = new AccountLock(deps.config.databaseUrl, accountId, deps.log);
    this.#lock.onLost(() => {
      // Without the lock another process may take the session: stop at once, then try again.
      this.#setStatus('waiting_lock', 'advisory lock connection lost');
      void this.#unregister(false).then(() => { if (!this.#stopping) this.#loop = this.#run(); });
    });
  }

  start(): void {
    this.#loop = this.#run();
  }

  #setStatus(s: AccountStatus, reason: string | null = null): void {
    this.status = s;
    this.statusReason = reason;
    this.#deps.metrics.accountUp.set({ account: this.accountId }, s === 'running' ? 1 : 0);
  }

  async #run(): Promise<void> {
    const { config, log } = this.#deps;
    while (!this.#stopping) {
      try {
        if (await this.#lock.tryAcquire()) break;
      } catch (err) {
        log.warn({ err, accountId: this.accountId }, 'account lock: database unreachable');
      }
      if (this.status !== 'waiting_lock' || !this.statusReason) {
        this.#setStatus('waiting_lock', 'another worker holds this account');
        log.info({ accountId: this.accountId }, 'account held by another worker; waiting');
      }
      await sleep(config.accountLockRetryMs);
    }
    if (this.#stopping) return;
    this.#setStatus('starting');
    try {
      this.#gateway ??= this.#deps.createGateway(this.accountId);
      await this.#gateway.start();
    } catch (err) {
      const c = classify(err);
      this.#setStatus('session_lost', `${c.code}: ${c.message}`);
      log.error({ err, accountId: this.accountId }, 'Telegram session unusable: not sending for this account');
      if (c.kind === 'account') {
        await this.#deps.inTransaction((tx) => db.setAccountStatus(tx, this.accountId, c.status, `${c.code}: ${c.message}`))
          .catch((e: unknown) => log.error({ err: e }, 'could not record the account status'));
      }
      return;
    }
    await this.refresh();
    this.#setStatus('running');
    log.info({ accountId: this.accountId, ratePerMinute: this.#pacer.ratePerMinute, batchSize: this.#batchSize }, 'account running');
  }

  /**
   * Re-reads the account's pace; re-registers the queue worker when the batch size changes. An
   * account stopped for PEER_FLOOD stays stopped (no queue worker) until its row is active again:
   * the owner resumed a campaign paused for it (resume_campaign), and sending resumes.
   */
  async refresh(): Promise<void> {
    if (this.#stopping || !this.#lock.held || !this.#gateway) return;
    const stopped = this.status === 'account_stopped';
    // While stopped, wait for the batch that stopped the account to commit: before it, the row
    // still reads 'active' and would look like the owner's resume.
    const [row] = await this.#deps.inTransaction((tx) => db.readAccounts(tx, [this.accountId], { waitForWriters: stopped }));
    if (!row) {
      this.#deps.log.error({ accountId: this.accountId }, 'account not found in telegram_accounts');
      return;
    }
    // A revoked session needs a new login and a restart; a stop during the read is not undone by it.
    if (this.status === 'session_lost') return;
    if (this.status === 'account_stopped') {
      if (!stopped || row.status !== 'active') return;
      this.#events.stop = null;
      this.#pacer.unblock();
      this.#setStatus('running');
      this.#deps.log.info({ accountId: this.accountId }, 'account active again (campaign resumed by its owner): sending');
    }
    this.#pacer.setRate(row.rate_per_minute);
    if (row.flood_wait_until) this.#pacer.block(new Date(row.flood_wait_until).getTime());
    const size = batchSizeFor(row.rate_per_minute, this.#deps.config);
    if (size !== this.#batchSize || !this.#workId) {
      await this.#unregister(true);
      if (!this.#stopping && this.#lock.held) await this.#register(size);
    }
  }

  async #register(batchSize: number): Promise<void> {
    const { boss, config } = this.#deps;
    this.#batchSize = batchSize;
    const ctx: AccountContext = {
      accountId: this.accountId, config, log: this.#deps.log, metrics: this.#deps.metrics,
      gateway: this.#gateway!, pacer: this.#pacer, peers: this.#peers, events: this.#events,
      lockHeld: (tx) => this.#lock.stillHeld(tx),
      stopping: () => this.#stopping,
      wakeAt: (at) => this.#deps.wakeAt(this.queue, at),
    };
    this.#workId = await boss.work(this.queue, {
      transactional: true,
      batchSize,
      // Up to campaignConcurrency handlers, all sharing the account's pacer, which serves them in
      // turn. A campaign with a batch in flight is skipped by the next fetch (groupConcurrency is
      // checked before the fetch's LIMIT), so each handler works another campaign: the running
      // campaigns interleave instead of draining one after the other in creation order.
      localConcurrency: config.campaignConcurrency,
      groupConcurrency: batchSize,
      burstWhenBatchFull: true,
      pollingIntervalSeconds: config.pollingSeconds,
      notifyPollingIntervalSeconds: config.pollingSeconds,
    }, async (jobs: Job<unknown>[], tx: Db) => {
      const parsed = jobs.map((j) => ({ id: j.id, data: DeliveryJob.parse(j.data) }));
      const summary = await handleDeliveryBatch(ctx, parsed, tx);
      // A non-empty batch suggests a backlog: fetch again right after this commit.
      if (jobs.length) this.#deps.wakeNow(this.queue);
      if (summary.sent) this.lastSentAt = Date.now();
      if (summary.flood) {
        this.#deps.log.warn({ accountId: this.accountId, seconds: summary.flood.seconds, resumeAt: summary.flood.resumeAt }, 'FLOOD_WAIT: campaigns paused until resume_at');
        this.#deps.wakeAt('campaign-resume', summary.flood.resumeAt.getTime() + 20);
      }
      if (summary.accountStopped) {
        this.#deps.log.error({ accountId: this.accountId, ...summary.accountStopped }, 'account stopped by Telegram; campaigns paused');
        this.#setStatus(summary.accountStopped.status === 'revoked' ? 'session_lost' : 'account_stopped', summary.accountStopped.reason);
        setImmediate(() => { void this.#unregister(false); });
      }
      return summary;
    });
  }

  async #unregister(wait: boolean): Promise<void> {
    const id = this.#workId;
    this.#workId = null;
    if (id) await this.#deps.boss.offWork(this.queue, { id, wait });
  }

  /** Graceful: stop fetching, let in-flight batches finish and commit, then let the account go. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#unregister(true);
    await this.#loop?.catch(() => {});
    await this.#gateway?.stop().catch(() => {});
    await this.#lock.release();
    this.#setStatus('stopped');
  }
}
