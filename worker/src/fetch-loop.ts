// The one fetch loop of a worker process. It takes jobs for every account that is running,
// has jobs due and has room in its queue, all in one statement (worker_take), so fetching costs
// in proportion to deliveries, not to accounts × campaigns. Accounts learn they have jobs from
// pg-boss's NOTIFY (new jobs), their own retries and reschedules (local timers), and a periodic
// look at when each queue's next job comes due (scheduled campaigns, jobs of a dead worker).
// Idle accounts, and accounts in a FLOOD_WAIT, cost nothing here.
import type pg from 'pg';
import type { Account } from './account/account.ts';
import { bufferTarget } from './account/deliveries.ts';
import { CAMPAIGN_RESUME_QUEUE, deliveryQueueName, REACH_QUEUE } from '../../contracts/jobs.ts';
import type { AccountLocks } from './account-locks.ts';
import type { WorkerConfig } from './config.ts';
import * as db from './db.ts';
import type { Logger } from './logger.ts';

export class FetchLoop {
  readonly #pool: pg.Pool;
  readonly #config: WorkerConfig;
  readonly #log: Logger;
  readonly #locks: AccountLocks;
  readonly #accounts: () => Map<string, Account>;
  readonly #supervise: (queue: string) => Promise<void>;
  /** Accounts whose queue may hold due jobs. */
  readonly #hasWork = new Set<string>();
  readonly #hungry = new Set<string>();
  /** Accounts with new jobs since their last fetch. */
  readonly #fresh = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  /** When each account was last part of a fetch that the database answered. */
  readonly #lastFetch = new Map<string, number>();
  /** Jobs taken and not yet recorded: kept alive with heartbeats. */
  readonly #held = new Map<string, { accountId: string; since: number }>();
  #running: Promise<void> | null = null;
  /** The fetch under way (the statement, then its rows handed to their accounts). */
  #taking: Promise<void> = Promise.resolve();
  #again = false;
  #failures = 0;
  #startedAt = Date.now();
  #stopped = false;
  #intervals: NodeJS.Timeout[] = [];

  constructor(o: {
    pool: pg.Pool;
    config: WorkerConfig;
    log: Logger;
    locks: AccountLocks;
    accounts: () => Map<string, Account>;
    /** pg-boss's supervision of one queue (expiry, heartbeat failures). */
    supervise(queue: string): Promise<void>;
  }) {
    this.#supervise = o.supervise;
    this.#pool = o.pool;
    this.#config = o.config;
    this.#log = o.log;
    this.#locks = o.locks;
    this.#accounts = o.accounts;
  }

  start(): void {
    this.#startedAt = Date.now();
    const every = (ms: number, fn: () => Promise<void>) => {
      let busy = false;
      const t = setInterval(() => {
        if (busy || this.#stopped) return;
        busy = true;
        fn().catch((err: unknown) => this.#log.warn({ err }, 'fetch loop housekeeping failed')).finally(() => {
          busy = false;
        });
      }, ms);
      t.unref();
      this.#intervals.push(t);
    };
    every(this.#config.pollingSeconds * 1000, () => this.#lookForDueJobs());
    every(this.#config.heartbeatMs, () => this.#heartbeat());
    every(this.#config.superviseSeconds * 1000, () => this.#reclaimOrphans());
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#intervals) clearInterval(t);
    for (const t of this.#timers.values()) clearTimeout(t.timer);
  }

  /** The account has jobs due now (at omitted) or at `at`. */
  wake(accountId: string, at?: number): void {
    if (at !== undefined && at > Date.now() + 5) return this.#wakeLater(accountId, at);
    this.#hasWork.add(accountId);
    this.hungry(accountId);
  }

  /** A NOTIFY from pg-boss: its payload is the queue's name. */
  notified(queue: string): void {
    const id = queue.startsWith('delivery.') ? queue.slice('delivery.'.length) : null;
    if (!id || !this.#accounts().has(id)) return;
    // New jobs (a campaign started or resumed): take some even if the queue is full, so a new
    // campaign on a busy account starts at once and gets its round-robin turns from then on.
    this.#fresh.add(id);
    this.wake(id);
  }

  hungry(accountId: string): void {
    if (!this.#hasWork.has(accountId)) return;
    this.#hungry.add(accountId);
    this.#kick();
  }

  /** When the account was last part of a fetch the database answered, or when the loop started. */
  lastFetchAt(accountId: string): number {
    return this.#lastFetch.get(accountId) ?? this.#startedAt;
  }

  /** Resolves once the fetch under way, if any, has handed its rows to their accounts. */
  taken(): Promise<void> {
    return this.#taking.catch(() => {});
  }

  /** Jobs of the account taken and not yet recorded (its hand-over waits for none). */
  holding(accountId: string): number {
    let n = 0;
    for (const h of this.#held.values()) if (h.accountId === accountId) n++;
    return n;
  }

  /** Jobs of these outcomes are settled: no more heartbeats. */
  settled(jobIds: Iterable<string>): void {
    for (const id of jobIds) this.#held.delete(id);
  }

  #wakeLater(accountId: string, at: number): void {
    const cur = this.#timers.get(accountId);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.timer);
    // A few ms late, so the job's start_after has passed by the database's clock too.
    const timer = setTimeout(() => {
      this.#timers.delete(accountId);
      this.wake(accountId);
    }, at - Date.now() + 15);
    timer.unref();
    this.#timers.set(accountId, { at, timer });
  }

  #kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = null;
    });
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      // Let a burst of NOTIFYs and drained queues gather into one statement.
      await new Promise((r) => setImmediate(r));
      try {
        this.#taking = this.#takeOnce();
        await this.#taking;
        this.#failures = 0;
      } catch (err) {
        this.#log.warn({ err }, 'fetching jobs failed; trying again');
        // 0.5 s, then longer while the database stays away (at most 5 s).
        await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * 2 ** this.#failures++)));
        this.#again = true;
      }
    } while (this.#again && !this.#stopped);
  }

  async #takeOnce(): Promise<void> {
    if (this.#stopped) return;
    const wants = this.#wants();
    // Without a lock session the accounts are suspended; they ask again when they run.
    if (!wants.length || !this.#locks.pid) return;
    let rows: db.Claimed[];
    try {
      rows = await db.take(this.#pool, this.#locks.pid, wants, this.#config.campaignConcurrency);
    } catch (err) {
      // Still hungry: an idle account that is not asked again would never fetch.
      for (const w of wants) this.#hungry.add(w.accountId);
      throw err;
    }
    const accounts = this.#accounts();
    const byAccount = new Map<string, db.Claimed[]>();
    const now = Date.now();
    for (const r of rows) {
      this.#held.set(r.job_id, { accountId: r.account_id, since: now });
      const list = byAccount.get(r.account_id);
      if (list) list.push(r);
      else byAccount.set(r.account_id, [r]);
    }
    for (const w of wants) {
      this.#lastFetch.set(w.accountId, now);
      this.#fresh.delete(w.accountId);
      const got = byAccount.get(w.accountId) ?? [];
      // Fewer than asked: the queue has nothing more due; NOTIFY or a timer says when it has.
      if (got.length < w.limit) this.#hasWork.delete(w.accountId);
      if (got.length) accounts.get(w.accountId)?.enqueue(got);
    }
  }

  /** What each hungry account asks for (its fresh mark is used up only by a fetch that happens). */
  #wants(): db.Want[] {
    const accounts = this.#accounts();
    const wants: db.Want[] = [];
    for (const id of this.#hungry) {
      const a = accounts.get(id);
      this.#hungry.delete(id);
      if (!a || !a.canFetch || !this.#locks.holds(id) || !this.#hasWork.has(id)) continue;
      const { target, low } = bufferTarget(a.pacer.ratePerMinute, this.#config.lookaheadSeconds);
      const fresh = this.#fresh.has(id);
      if (a.queued < low || fresh) {
        const limit = Math.min(this.#config.maxTake, Math.max(target - a.queued, fresh ? low : 0));
        wants.push({ accountId: id, limit, queued: a.queuedByCampaign });
      }
    }
    return wants;
  }

  async #lookForDueJobs(): Promise<void> {
    const ready = [...this.#accounts().values()].filter((a) => a.canFetch);
    // Accounts marked as having work are asked again too: whatever lost their turn (a fetch that
    // failed, a lock session that came back), the mark alone never leaves an account idle.
    for (const a of ready) if (this.#hasWork.has(a.id)) this.hungry(a.id);
    const ids = ready.filter((a) => !this.#hasWork.has(a.id)).map((a) => a.id);
    if (!ids.length) return;
    const horizon = Date.now() + this.#config.pollingSeconds * 1000;
    for (const [id, due] of await db.nextDue(this.#pool, ids)) if (due <= horizon) this.wake(id, due);
  }

  /**
   * pg-boss supervises every queue on its own only every few minutes (with 1,000 queues a full
   * pass is the biggest cost of an idle fleet); the queues of this process's accounts that hold
   * jobs of a dead process are supervised at once, so their jobs come back within seconds. Reach
   * rounds too: a dead worker's round is otherwise left active until a full pass after its expiry.
   */
  async #reclaimOrphans(): Promise<void> {
    const names = [...this.#accounts().keys()].filter((id) => this.#locks.holds(id)).map(deliveryQueueName);
    for (const q of await db.orphanedQueues(this.#pool, [...names, CAMPAIGN_RESUME_QUEUE, REACH_QUEUE])) await this.#supervise(q);
  }

  async #heartbeat(): Promise<void> {
    const old = Date.now() - this.#config.heartbeatMs;
    const jobs = [...this.#held].filter(([, h]) => h.since < old).map(([jobId, h]) => ({ jobId, accountId: h.accountId }));
    if (jobs.length) await db.heartbeat(this.#pool, jobs);
  }
}
