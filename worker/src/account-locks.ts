// The one session connection of a worker process that holds every account it serves: session
// advisory locks stack on one connection, so a process holds hundreds of accounts on a single
// connection, and a second process trying the same accounts gets none of them. The same
// connection LISTENs to pg-boss's NOTIFY channel, so new jobs wake the fetch loop at once.
// If the connection dies, every lock is gone with it: the worker stops sending for all its
// accounts (onLost) and connects again. A connection can also die without a word (a half-open
// TCP path: a NAT or proxy that stops forwarding): a heartbeat query every few seconds that
// gets no answer in time ends it the same way, and the next session ends the old backend, which
// Postgres would otherwise keep (holding the locks) until its own keepalive gave up.
// The session's name is the worker's presence (fleet-share.ts): others count it to size their share.
import pg from 'pg';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';
import { PRESENCE_NOTICE, STOPPING_SESSION_NAME } from './fleet-share.ts';

/** How often the lock session is asked `select 1`, and how long it may take to answer. */
export const LOCK_HEARTBEAT_MS = 5_000;
export const LOCK_HEARTBEAT_TIMEOUT_MS = 10_000;
/** A stop's statements on the lock session wait no longer: a session that does not answer ends with the process. */
const STOP_STATEMENT_MS = 1_000;

export class AccountLocks {
  readonly #url: string;
  readonly #name: string;
  #client: pg.Client | null = null;
  #pid = 0;
  /** The previous session (pid, backend start) if it may still live on the server. */
  #stale: { pid: number; started: string } | null = null;
  #started = '';
  #channel = '';
  #heartbeat: NodeJS.Timeout | null = null;
  #held = new Set<string>();
  #onLost: () => void;
  #onNotify: (queue: string) => void;

  /** `name`: the session's application_name (lockSessionName). */
  constructor(databaseUrl: string, handlers: { onLost(): void; onNotify(queue: string): void }, name: string) {
    this.#url = databaseUrl;
    this.#name = name;
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

  /** Opens the session if it is not open: this worker counts among the live ones from then on. */
  async open(): Promise<void> {
    if (!this.#client) await this.#connect();
  }

  /** Connects (if needed) and tries to lock the accounts, at most `limit`; returns the ones newly held. */
  async acquire(ids: string[], limit: number | null = null): Promise<string[]> {
    const client = this.#client ?? (await this.#connect());
    const got = await db.tryLockAccounts(client, ids.filter((id) => !this.#held.has(id)), limit);
    for (const id of got) this.#held.add(id);
    return got;
  }

  /** Releases the account's lock; `tell`: the other workers are told to look for it now. */
  async release(id: string, tell = false): Promise<void> {
    const c = this.#client;
    if (!this.#held.delete(id) || !c) return;
    await db.unlockAccount(c, id).catch(() => {});
    if (tell) await this.#announce(c);
  }

  /** A stop begins: no longer counted among the live workers (the others' shares grow), and they are told. */
  async retire(): Promise<void> {
    const c = this.#client;
    if (c) await this.#announce(c, () => db.renameSession(c, STOPPING_SESSION_NAME));
  }

  /** Every account's lock released at once (a stop, its sends recorded), and the others told. */
  async releaseAll(): Promise<void> {
    const c = this.#client;
    this.#held.clear();
    if (c) await this.#announce(c, () => db.unlockAllAccounts(c));
  }

  /** `change` (if any), then the other workers told (NOTIFY), within STOP_STATEMENT_MS in all; never throws. */
  async #announce(c: pg.Client, change: () => Promise<void> = async () => {}): Promise<void> {
    const tell = async () => {
      await change();
      await db.notifyWorkers(c, this.#channel, PRESENCE_NOTICE);
    };
    await withTimeout(tell(), STOP_STATEMENT_MS, 'presence change').catch(() => {});
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
      application_name: this.#name,
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
      this.#channel = await db.notifyChannel(c);
      await c.query(`listen "${this.#channel}"`);
      this.#pid = rows[0].pid;
      this.#started = rows[0].started;
      this.#client = c;
      this.#startHeartbeat(c);
      // A new worker: the others shrink their share now rather than at their next pass.
      await this.#announce(c);
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
