// The accounts this process serves: the ones it has sessions for (or, in simulator mode
// without a list, the database's accounts up to a bound). Every few seconds it re-reads their
// rows (pace, FLOOD_WAIT, an owner's resume), drops accounts deleted since, and tries to lock
// the accounts it does not hold yet, all in a handful of statements whatever their number.
import type pg from 'pg';
import { Account, type AccountDeps } from './account.ts';
import type { AccountLocks } from './account-locks.ts';
import type { WorkerConfig } from './config.ts';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';
import type { Logger } from './logger.ts';
import { clock } from './pacing.ts';

/** An account's waiting_lock reason when another process holds its lock (and serves it). */
export const HELD_ELSEWHERE = 'another worker holds this account';

export class Fleet {
  readonly accounts = new Map<string, Account>();
  readonly #pool: pg.Pool;
  readonly #config: WorkerConfig;
  readonly #log: Logger;
  readonly #locks: AccountLocks;
  readonly #deps: AccountDeps;
  #timer: NodeJS.Timeout | null = null;
  #syncing: Promise<void> | null = null;
  #lastRefresh = 0;
  #stopped = false;

  constructor(o: { pool: pg.Pool; config: WorkerConfig; log: Logger; locks: AccountLocks; deps: AccountDeps }) {
    this.#pool = o.pool;
    this.#config = o.config;
    this.#log = o.log;
    this.#locks = o.locks;
    this.#deps = o.deps;
  }

  async start(): Promise<void> {
    await this.sync();
    const every = Math.min(this.#config.accountLockRetryMs, this.#config.accountRefreshMs);
    this.#timer = setInterval(() => {
      void this.sync();
    }, every);
    this.#timer.unref();
  }

  /** One pass: the account rows, then the locks. Never throws (the database may be down). */
  sync(): Promise<void> {
    this.#syncing ??= this.#pass()
      .catch((err: unknown) => this.#log.warn({ err }, 'account sync failed; trying again'))
      .finally(() => {
        this.#syncing = null;
      });
    return this.#syncing;
  }

  /** The lock connection died: no account may send until its lock is held again. */
  lost(): void {
    for (const a of this.accounts.values()) {
      if (a.status !== 'stopped') void a.suspend('waiting_lock', 'advisory lock connection lost');
    }
    void this.sync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    // A pass waiting on a database that does not answer is not waited for (it starts nothing now).
    await withTimeout(this.#syncing ?? Promise.resolve(), 2_000, 'account sync').catch(() => {});
    await Promise.all([...this.accounts.values()].map((a) => a.stop()));
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    if (Date.now() - this.#lastRefresh >= this.#config.accountRefreshMs) {
      await this.#refresh();
      this.#lastRefresh = Date.now();
    }
    const waiting = [...this.accounts.values()].filter((a) => a.status === 'waiting_lock').map((a) => a.id);
    if (!waiting.length || this.#stopped) return;
    const got = new Set(await this.#locks.acquire(waiting));
    if (this.#stopped) return;
    for (const id of waiting) {
      const a = this.accounts.get(id)!;
      if (!got.has(id)) {
        if (a.statusReason === null) this.#log.info({ accountId: id }, 'account held by another worker; waiting');
        a.setStatus('waiting_lock', HELD_ELSEWHERE);
        continue;
      }
      void a.start().then(() => {
        if (a.status === 'running') this.#log.info({ accountId: id, ratePerMinute: a.pacer.ratePerMinute }, 'account running');
      });
    }
  }

  async #refresh(): Promise<void> {
    const config = this.#config;
    const listed = config.accounts?.map((a) => a.accountId) ?? null;
    const readAt = clock();
    const rows = await db.readAccounts(this.#pool, listed, config.simulatorMaxAccounts);
    const seen = new Set(rows.map((r) => r.id));
    for (const [id, a] of this.accounts) {
      if (seen.has(id)) continue;
      // Deleted (or, without a list, no longer among the first simulatorMaxAccounts).
      this.accounts.delete(id);
      await a.stop();
      await this.#locks.release(id);
      this.#log.info({ accountId: id }, 'account no longer in the database: not serving it');
    }
    for (const r of rows) {
      let a = this.accounts.get(r.id);
      if (!a) this.accounts.set(r.id, a = new Account(r.id, this.#deps));
      a.refresh(r, readAt);
    }
    for (const id of listed ?? []) {
      if (!seen.has(id)) this.#log.error({ accountId: id }, 'account not found in telegram_accounts: create it first');
    }
  }
}
