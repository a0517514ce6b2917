// The one session connection of a worker process that holds every account it serves: session
// advisory locks stack on one connection, so a process holds hundreds of accounts on a single
// connection, and a second process trying the same accounts gets none of them. The same
// connection LISTENs to pg-boss's NOTIFY channel, so new jobs wake the fetch loop at once.
// If the connection dies, every lock is gone with it: the worker stops sending for all its
// accounts (onLost) and connects again. A connection can also die without a word (a half-open
// TCP path: a NAT or proxy that stops forwarding): a heartbeat query every few seconds that
// gets no answer in time ends it the same way, and the next session ends the old backend, which
// Postgres would otherwise keep (holding the locks) until its own keepalive gave up.
import pg from 'pg';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';

/** How often the lock session is asked `select 1`, and how long it may take to answer. */
export const LOCK_HEARTBEAT_MS = 5_000;
export const LOCK_HEARTBEAT_TIMEOUT_MS = 10_000;

export class AccountLocks {
  readonly #url: string;
  #client: pg.Client | null = null;
  #pid = 0;
  /** The previous session (pid, backend start) if it may still live on the server. */
  #stale: { pid: number; started: string } | null = null;
  #started = '';
  #heartbeat: NodeJS.Timeout | null = null;
  #held = new Set<string>();
  #onLost: () => void;
  #onNotify: (queue: string) => void;

  constructor(databaseUrl: string, handlers: { onLost(): void; onNotify(queue: string): void }) {
    this.#url = databaseUrl;
    this.#onLost = handlers.onLost;
    this.#onNotify = handlers.onNotify;
  }

  /** Backend pid of the lock session (worker_take checks the locks against it); 0 when down. */
  get pid(): number {
    return this.#client ? this.#pid : 0;
  }

  holds(accountId: string): boolean {
    return this.#held.has(accountId);
  }

  /** Connects (if needed) and tries to lock the accounts; returns the ones newly held. */
  async acquire(ids: string[]): Promise<string[]> {
    const client = this.#client ?? (await this.#connect());
    const got = await db.tryLockAccounts(client, ids.filter((id) => !this.#held.has(id)));
    for (const id of got) this.#held.add(id);
    return got;
  }

  async release(id: string): Promise<void> {
    if (!this.#held.delete(id) || !this.#client) return;
    await db.unlockAccount(this.#client, id).catch(() => {});
  }

  async close(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    this.#held.clear();
    this.#stopHeartbeat();
    // A session that does not answer is not waited for: the server ends it when the socket goes.
    if (c) await withTimeout(c.end(), 2_000, 'lock session end').catch(() => destroy(c));
  }

  async #connect(): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: this.#url,
      application_name: 'tg-worker locks',
      keepAlive: true,
      connectionTimeoutMillis: LOCK_HEARTBEAT_TIMEOUT_MS,
    });
    c.on('error', () => this.#drop(c));
    c.on('end', () => this.#drop(c));
    c.on('notification', (n) => {
      if (n.payload) this.#onNotify(n.payload);
    });
    try {
      await c.connect();
      const { rows } = await c.query(
        'select pg_backend_pid() as pid, backend_start::text as started from pg_stat_activity where pid = pg_backend_pid()',
      );
      // Not fatal: a session left over only delays accounts (waiting_lock) until the server ends it.
      if (this.#stale) await db.endStaleSession(c, this.#stale.pid, this.#stale.started).catch(() => {});
      this.#stale = null;
      await c.query(`listen "${await db.notifyChannel(c)}"`);
      this.#pid = rows[0].pid;
      this.#started = rows[0].started;
      this.#client = c;
      this.#startHeartbeat(c);
      return c;
    } catch (err) {
      destroy(c);
      throw err;
    }
  }

  /** `select 1` every few seconds; no answer in time ends the session as if it had dropped. */
  #startHeartbeat(c: pg.Client): void {
    this.#stopHeartbeat();
    let busy = false;
    this.#heartbeat = setInterval(() => {
      if (busy) return;
      busy = true;
      withTimeout(c.query('select 1'), LOCK_HEARTBEAT_TIMEOUT_MS, 'lock session heartbeat')
        .catch(() => destroy(c))
        .finally(() => {
          busy = false;
        });
    }, LOCK_HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #drop(c: pg.Client): void {
    if (this.#client !== c) return;
    this.#client = null;
    this.#held.clear();
    this.#stopHeartbeat();
    // It may live on behind a broken path, holding every lock: the next session ends it.
    this.#stale = { pid: this.#pid, started: this.#started };
    destroy(c);
    this.#onLost();
  }
}

/** Closes the socket at once: end() would wait for a goodbye a half-open path never delivers. */
function destroy(c: pg.Client): void {
  (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
