// The one session connection of a worker process that holds every account it serves: session
// advisory locks stack on one connection, so a process holds hundreds of accounts on a single
// connection, and a second process trying the same accounts gets none of them. The same
// connection LISTENs to pg-boss's NOTIFY channel, so new jobs wake the fetch loop at once.
// If the connection dies, every lock is gone with it: the worker stops sending for all its
// accounts (onLost) and connects again.
import pg from 'pg';
import * as db from './db.ts';

export class AccountLocks {
  readonly #url: string;
  #client: pg.Client | null = null;
  #pid = 0;
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
    if (c) await c.end().catch(() => {});
  }

  async #connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.#url, application_name: 'tg-worker locks' });
    c.on('error', () => this.#drop(c));
    c.on('end', () => this.#drop(c));
    c.on('notification', (n) => {
      if (n.payload) this.#onNotify(n.payload);
    });
    await c.connect();
    try {
      const { rows } = await c.query('select pg_backend_pid() as pid');
      await c.query(`listen "${await db.notifyChannel(c)}"`);
      this.#pid = rows[0].pid;
      this.#client = c;
      return c;
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
  }

  #drop(c: pg.Client): void {
    if (this.#client !== c) return;
    this.#client = null;
    this.#held.clear();
    this.#onLost();
  }
}
