// The accounts this process may serve: the ones of its list, or without a list the database's
// accounts (in gramjs mode, those with a stored session its keys open). Every few seconds, and at
// once when another worker starts, stops or hands accounts over (NOTIFY), it re-reads their rows
// (pace, FLOOD_WAIT, an owner's resume), drops accounts deleted since, counts the live workers and
// the accounts with work, hands over what it holds beyond its fair share (fleet-share.ts) and
// locks free accounts up to it, all in a handful of statements whatever their number. A worker
// with a list of its own shares nothing: it takes every listed account it can. A session
// stored, replaced or deleted is seen at the next pass. An account is handed over between sends:
// no send of it starts, those in flight finish, every job it took is recorded, then its lock goes.
import type pg from 'pg';
import { sleep } from '../../contracts/time.ts';
import { Account } from './account/account.ts';
import type { AccountDeps } from './account/context.ts';
import type { AccountLocks } from './account-locks.ts';
import type { WorkerConfig } from './config.ts';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';
import {
  fairShare,
  type Kinds,
  planShare,
  PRESENCE_NOTICE,
  SHARED_SESSION_NAME,
  type SharePlan,
  shuffled,
} from './fleet-share.ts';
import type { TelegramGateway } from './gateway/types.ts';
import type { Logger } from './logger.ts';
import { clock } from './pacing.ts';
import type { ServedSessions } from './sessions/served.ts';
import { sessionAccounts } from './sessions/store.ts';

/** An account's waiting_lock reason when another process holds its lock (and serves it). */
export const HELD_ELSEWHERE = 'another worker holds this account';
/** An account's waiting_lock reason while it is handed over (its lock still held). */
export const HANDING_OVER = "handing over to another worker (over this worker's fair share)";
/** Accounts read from the database whatever WORKER_MAX_ACCOUNTS (which bounds those held). */
const LISTED = 100_000;
/** A hand-over whose jobs are not all recorded within this long keeps the account (the database away). */
const HAND_OVER_SETTLE_MS = 10_000;
/** A stop records what was sent and what goes back at most this long before releasing its accounts. */
const RECORD_ON_STOP_MS = 5_000;

/**
 * An account not sending is handed over first, then the one with the fewest rows queued; one
 * still connecting last (its connection would come up after the hand-over).
 */
const handOverCost = (a: Account) => ({ starting: 2e9, running: 1e9 }[a.status as string] ?? 0) + a.queued;

export class Fleet {
  readonly accounts = new Map<string, Account>();
  readonly #pool: pg.Pool;
  readonly #config: WorkerConfig;
  readonly #log: Logger;
  readonly #locks: AccountLocks;
  readonly #deps: AccountDeps;
  readonly #sessions: ServedSessions | null;
  readonly #holding: (accountId: string) => number;
  readonly #taken: () => Promise<void>;
  /** Accounts being handed over, until their lock is released (or they are kept). */
  readonly #leaving = new Map<string, Promise<void>>();
  /** Each account's latest connection (an account makes a new one when it starts again). */
  readonly #gateways = new Map<string, TelegramGateway>();
  #timer: NodeJS.Timeout | null = null;
  #syncing: Promise<void> | null = null;
  #again = false;
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
      /** Jobs of the account taken and not yet recorded (the fetch loop's). */
      holding(accountId: string): number;
      /** Resolves once the fetch under way has handed its rows to their accounts. */
      taken(): Promise<void>;
    },
  ) {
    this.#pool = o.pool;
    this.#config = o.config;
    this.#log = o.log;
    this.#locks = o.locks;
    this.#deps = {
      ...o.deps,
      createGateway: (id) => {
        const g = o.deps.createGateway(id);
        this.#gateways.set(id, g);
        return g;
      },
    };
    this.#sessions = o.sessions ?? null;
    this.#holding = o.holding;
    this.#taken = o.taken;
  }

  async start(): Promise<void> {
    await this.sync();
    const every = Math.min(this.#config.accountLockRetryMs, this.#config.accountRefreshMs);
    this.#timer = setInterval(() => {
      void this.sync();
    }, every);
    this.#timer.unref();
  }

  /**
   * The connection of an account this worker holds and that is sending (not starting, in a
   * FLOOD_WAIT, stopped by Telegram, unreachable or being handed over), for reads beside its sends.
   */
  connection(accountId: string): TelegramGateway | null {
    const a = this.accounts.get(accountId);
    if (a?.status !== 'running' || !this.#locks.holds(accountId) || this.#leaving.has(accountId)) return null;
    return this.#gateways.get(accountId) ?? null;
  }

  /** The lock session's backend pid (the database checks an account's lock against it). */
  get lockPid(): number {
    return this.#locks.pid;
  }

  /** A pass: the account rows, then the share and the locks; asked during one, another follows. Never throws. */
  sync(): Promise<void> {
    if (this.#syncing) {
      this.#again = true;
      return this.#syncing;
    }
    this.#syncing = this.#passes().finally(() => {
      this.#syncing = null;
    });
    return this.#syncing;
  }

  /** A NOTIFY: another worker started, stopped or handed accounts over (false: not for the fleet). */
  notified(payload: string): boolean {
    if (payload !== PRESENCE_NOTICE) return false;
    if (!this.#stopped) void this.sync();
    return true;
  }

  /** The lock connection died: no account may send until its lock is held again. */
  lost(): void {
    for (const a of this.accounts.values()) {
      if (a.status !== 'stopped') void a.suspend('waiting_lock', 'advisory lock connection lost');
    }
    void this.sync();
  }

  /**
   * Hands every account over: no longer counted among the live workers, no send starts, those in
   * flight finish, everything is recorded (at most RECORD_ON_STOP_MS), the locks go and the other
   * workers are told; then the sessions disconnect.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    // A pass waiting on a database that does not answer is not waited for (it starts nothing now).
    await withTimeout(this.#syncing ?? Promise.resolve(), 2_000, 'account sync').catch(() => {});
    await this.#locks.retire();
    const accounts = [...this.accounts.values()];
    // Rows of a fetch under way go back with the others (the fetch loop starts no more).
    await this.#taken();
    await Promise.all(accounts.map((a) => a.suspend('stopped', null)));
    await Promise.all(this.#leaving.values());
    await this.#deps.recorder.drain(RECORD_ON_STOP_MS);
    await this.#locks.releaseAll();
    await Promise.all(accounts.map((a) => a.stop()));
  }

  async #passes(): Promise<void> {
    do {
      this.#again = false;
      await this.#pass().catch((err: unknown) => this.#log.warn({ err }, 'account sync failed; trying again'));
    } while (this.#again && !this.#stopped);
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    const due = Date.now() - this.#lastRefresh >= this.#config.accountRefreshMs;
    if (due || await this.#sessions?.moved(this.#pool)) {
      await this.#refresh();
      this.#lastRefresh = Date.now();
    }
    // Counted among the live workers before counting them.
    await this.#locks.open();
    const view = this.#config.accounts
      ? { workers: 1, busy: new Set<string>() }
      : await db.fleetView(this.#pool, [...this.accounts.keys()], SHARED_SESSION_NAME);
    if (this.#stopped) return;
    this.#returnStrays();
    const plan = this.#plan(view.workers, view.busy);
    for (const id of plan.give) this.#handOver(this.accounts.get(id)!);
    await this.#take(view.busy, plan.room);
  }

  /** This worker's share of each kind of account against those it holds and keeps. */
  #plan(workers: number, busy: ReadonlySet<string>): SharePlan {
    const kinds = (xs: Account[]): Kinds<Account[]> => ({
      busy: xs.filter((a) => busy.has(a.id)),
      idle: xs.filter((a) => !busy.has(a.id)),
    });
    const all = kinds([...this.accounts.values()]);
    const share = fairShare(workers, { busy: all.busy.length, idle: all.idle.length }, this.#config.maxAccounts);
    const kept = [...this.accounts.values()].filter((a) => this.#locks.holds(a.id) && !this.#leaving.has(a.id));
    const held = kinds(kept.sort((a, b) => handOverCost(a) - handOverCost(b)));
    return planShare({ busy: held.busy.map((a) => a.id), idle: held.idle.map((a) => a.id) }, share);
  }

  /** Locks free accounts up to the room of each kind (tried in random order) and starts them. */
  async #take(busy: ReadonlySet<string>, room: Kinds<number>): Promise<void> {
    const waiting = [...this.accounts.values()].filter((a) => a.status === 'waiting_lock' && !this.#locks.holds(a.id));
    const got = new Set<string>();
    for (const kind of ['busy', 'idle'] as const) {
      const ids = waiting.filter((a) => busy.has(a.id) === (kind === 'busy')).map((a) => a.id);
      if (!ids.length || !room[kind]) continue;
      for (const id of await this.#locks.acquire(shuffled(ids), room[kind])) got.add(id);
    }
    // Stopping: locks taken meanwhile go with the others' (releaseAll).
    if (this.#stopped) return;
    for (const a of waiting) {
      if (!got.has(a.id)) {
        if (a.statusReason === null) this.#log.info({ accountId: a.id }, 'account held by another worker; waiting');
        a.setStatus('waiting_lock', HELD_ELSEWHERE);
        continue;
      }
      void a.start().then(() => {
        if (a.status === 'running') this.#log.info({ accountId: a.id, ratePerMinute: a.pacer.ratePerMinute }, 'account running');
      });
    }
  }

  /**
   * Hands the account over between sends: none starts, those in flight finish and every job it
   * took is recorded (sent, or back in its queue), then the lock goes and the others are told.
   */
  #handOver(a: Account): void {
    const leaving = (async () => {
      if (!(await this.#settled(a))) {
        // Not all recorded in time (the database away): kept, and sending again while its lock holds.
        if (this.#locks.holds(a.id) && !this.#stopped) void a.start();
        return;
      }
      await this.#locks.release(a.id, true);
      await a.stop().finally(() => a.setStatus('waiting_lock', HELD_ELSEWHERE));
      this.#log.info({ accountId: a.id }, 'account handed over to another worker (fair share)');
    })().catch((err: unknown) => this.#log.warn({ err, accountId: a.id }, 'hand-over failed'))
      .finally(() => this.#leaving.delete(a.id));
    this.#leaving.set(a.id, leaving);
  }

  /** Suspends the account until nothing of it is queued, in flight or unrecorded; false after HAND_OVER_SETTLE_MS. */
  async #settled(a: Account): Promise<boolean> {
    const end = Date.now() + HAND_OVER_SETTLE_MS;
    for (;;) {
      await a.suspend('waiting_lock', HANDING_OVER);
      // A fetch under way may still bring rows (asked for before the suspension): they go back too.
      await this.#taken();
      await a.suspend('waiting_lock', HANDING_OVER);
      if (!a.queued && !this.#holding(a.id)) return true;
      if (Date.now() > end || this.#stopped) return false;
      await sleep(50);
    }
  }

  /** Rows a fetch under way brought an account after its lock went go back unsent. */
  #returnStrays(): void {
    for (const a of this.accounts.values()) {
      if (a.queued && !this.#locks.holds(a.id) && !this.#leaving.has(a.id)) void a.suspend(a.status, a.statusReason);
    }
  }

  async #refresh(): Promise<void> {
    const config = this.#config;
    const listed = config.accounts?.map((a) => a.accountId) ?? null;
    const served = await this.#served();
    const readAt = clock();
    const rows = await db.readAccounts(this.#pool, served ?? listed, LISTED);
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

  /** Serving stored sessions: the accounts whose session opened. An account signed in anew, or given another proxy, starts over. */
  async #served(): Promise<string[] | null> {
    if (!this.#sessions) return null;
    const { usable, replaced } = await this.#sessions.update(
      this.#pool,
      await sessionAccounts(this.#pool, LISTED),
    );
    for (const id of replaced) {
      const a = this.accounts.get(id);
      if (a) await this.#drop(id, a, 'account has a new session or proxy: restarting it');
    }
    return usable;
  }

  async #drop(id: string, a: Account, why: string): Promise<void> {
    this.accounts.delete(id);
    this.#gateways.delete(id);
    await a.stop();
    await this.#locks.release(id);
    this.#log.info({ accountId: id }, why);
  }
}
