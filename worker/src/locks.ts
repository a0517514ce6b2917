// One process per Telegram account: a session-level advisory lock held on a dedicated
// connection. A second worker for the same account waits; if the connection dies, the lock is
// gone and so is the right to send, which every batch re-checks inside its own transaction.
import pg from 'pg';
import type { Logger } from 'pino';

/** Namespace of the worker's advisory locks (first key; the second is hashtext(account id)). */
const LOCK_CLASS = 0x7467; // "tg"

export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

export class AccountLock {
  readonly accountId: string;
  #url: string;
  #log: Logger;
  #client: pg.Client | null = null;
  #pid = 0;
  #objid = '';
  #lost: (() => void) | null = null;

  constructor(databaseUrl: string, accountId: string, log: Logger) {
    this.#url = databaseUrl;
    this.accountId = accountId;
    this.#log = log;
  }

  get held(): boolean {
    return this.#client !== null;
  }

  /** Calls back once when a held lock is lost (connection error or end). */
  onLost(cb: () => void): void {
    this.#lost = cb;
  }

  /** Tries once; true when this process now holds the account. */
  async tryAcquire(): Promise<boolean> {
    if (this.#client) return true;
    const c = new pg.Client({ connectionString: this.#url, application_name: `tg-worker lock ${this.accountId}` });
    c.on('error', (err) => this.#drop(c, err));
    c.on('end', () => this.#drop(c, new Error('lock connection ended')));
    await c.connect();
    try {
      const { rows } = await c.query<{ got: boolean; pid: number; objid: string | null }>(
        `select pg_try_advisory_lock($1, hashtext($2)) as got, pg_backend_pid() as pid,
           (select objid::text from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()
              and classid = $1 and objsubid = 2 limit 1) as objid`, [LOCK_CLASS, this.accountId]);
      if (!rows[0]?.got) {
        await c.end();
        return false;
      }
      this.#client = c;
      this.#pid = rows[0].pid;
      this.#objid = rows[0].objid ?? '';
      return true;
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
  }

  #drop(c: pg.Client, err: unknown): void {
    if (this.#client !== c) return;
    this.#client = null;
    this.#log.error({ err, accountId: this.accountId }, 'account lock lost: sending stops for this account');
    this.#lost?.();
  }

  /** Inside a batch's transaction: does the lock connection still hold the account? */
  async stillHeld(tx: SqlExecutor): Promise<boolean> {
    if (!this.#client) return false;
    const { rows } = await tx.executeSql(
      `select exists (select 1 from pg_locks where locktype = 'advisory' and classid = $1
         and objid = $2::oid and objsubid = 2 and pid = $3 and granted) as held`,
      [LOCK_CLASS, this.#objid, this.#pid]);
    return rows[0]?.held === true;
  }

  async release(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    if (c) await c.end().catch(() => {});
  }
}
