// The accounts this process serves: the ones of its list, or without a list the database's
// accounts up to a bound (in gramjs mode, those with a stored session its keys open). Every few
// seconds it re-reads their rows (pace, FLOOD_WAIT, an owner's resume), drops accounts deleted
// since, and tries to lock the accounts it does not hold yet, all in a handful of statements
// whatever their number. A session stored, replaced or deleted is seen at the next pass.
import type pg from 'pg';
import { Account, type AccountDeps } from './account.ts';
import type { AccountLocks } from './account-locks.ts';
import type { WorkerConfig } from './config.ts';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';
import type { Logger } from './logger.ts';
import { clock } from './pacing.ts';
import type { ServedSessions } from './sessions/served.ts';
import { sessionAccounts } from './sessions/store.ts';

/** An account's waiting_lock reason when another process holds its lock (and serves it). */
export const HELD_ELSEWHERE = 'another worker holds this account';

export class Fleet {
  readonly accounts = new Map<string, Account>();
  readonly #pool: pg.Pool;
  readonly #config: WorkerConfig;
  readonly #log: Logger;
  readonly #locks: AccountLocks;
  readonly #deps: AccountDeps;
  readonly #sessions: ServedSessions | null;
  #timer: NodeJS.Timeout | null = null;
  #syncing: Promise<void> | null = null;
  #lastRefresh = 0;
  #stopped = false;

  constructor(
    o: {
      pool: pg.Pool;
      config: WorkerConfig;
      log: Logger;
      locks: AccountLocks;
      deps: AccountDeps;
      sessions?: ServedSessions | null;
    },
  ) {
    this.#pool = o.pool;
    this.#config = o.config;
    this.#log = o.log;
    this.#locks = o.locks;
    this.#deps = o.deps;
    this.#sessions = o.sessions ?? null;
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
    const due = Date.now() - this.#lastRefresh >= this.#config.accountRefreshMs;
    if (due || await this.#sessions?.moved(this.#pool)) {
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
    const served = await this.#served();
    const readAt = clock();
    const rows = await db.readAccounts(this.#pool, served ?? listed, config.maxAccounts);
    const seen = new Set(rows.map((r) => r.id));
    for (const [id, a] of this.accounts) {
      if (!seen.has(id)) await this.#drop(id, a, 'account no longer in the database (or its session is gone): not serving it');
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

  /** Serving stored sessions: the accounts whose session opened. An account signed in anew starts over with it. */
  async #served(): Promise<string[] | null> {
    if (!this.#sessions) return null;
    const { usable, replaced } = await this.#sessions.update(
      this.#pool,
      await sessionAccounts(this.#pool, this.#config.maxAccounts),
    );
    for (const id of replaced) {
      const a = this.accounts.get(id);
      if (a) await this.#drop(id, a, 'account has a new session: restarting it');
    }
    return usable;
  }

  async #drop(id: string, a: Account, why: string): Promise<void> {
    this.accounts.delete(id);
    await a.stop();
    await this.#locks.release(id);
    this.#log.info({ accountId: id }, why);
  }
}
