// The opened sessions of a worker that serves the database's accounts with no list of its own:
// which stored sessions its keys open, kept in step with the table (a new sign-in, a rotation,
// a revoked session deleted, a proxy set or cleared) so the fleet can serve each account with its
// current session, through its current proxy.
import type { SqlExecutor } from '../db.ts';
import type { Logger } from '../logger.ts';
import { readSealedSessions, type SessionListing, sessionsVersion, type StoredSession } from './store.ts';
import { type AccountProxy, parseProxy, ProxyFormatError } from './proxy.ts';
import { openSealed, type SessionKey, SessionKeyError } from './vault.ts';

interface Held {
  /** The row's sealed_at, to the microsecond. */
  version: string;
  session: string;
  /** The proxy as opened (JSON): compared to tell a changed proxy. */
  proxyText: string | null;
  proxy: AccountProxy | null;
}

export class ServedSessions {
  readonly #keys: SessionKey[];
  readonly #log: Logger;
  readonly #held = new Map<string, Held>();
  /** Rows that did not open, by account: their version, so each is reported once. */
  readonly #unopened = new Map<string, string>();
  #version: string | null = null;

  constructor(keys: SessionKey[], log: Logger) {
    if (!keys.length) throw new SessionKeyError('serving the database’s sessions needs WORKER_SESSION_KEY');
    this.#keys = keys;
    this.#log = log;
  }

  /**
   * Opens the stored sessions (of the first `limit` accounts). Stored sessions of which none opens
   * mean this worker has the wrong key; some sealed under a key it lacks, that it was started
   * without a key the others hold (an old key dropped before a rotation ended): counted among the
   * workers, it would take a share of accounts it cannot serve. Either way it throws, having
   * changed nothing. A row under a key it holds that fails its tag (altered) is only logged.
   */
  async load(db: SqlExecutor, limit: number): Promise<void> {
    this.#version = await sessionsVersion(db);
    const stored = await readSealedSessions(db, null, limit);
    const holds = this.#keys.map((k) => k.id);
    const lacking = stored.filter((s) => !holds.includes(s.session.keyId));
    if (lacking.length && lacking.length < stored.length) {
      this.#refuse(`${lacking.length} of the ${stored.length} stored sessions are sealed under keys this worker lacks`, lacking);
    }
    this.#open(stored);
    if (stored.length && !this.#held.size) {
      this.#refuse(`none of the ${stored.length} stored sessions opens with this worker's keys`, stored);
    }
  }

  #refuse(what: string, rows: StoredSession[]): never {
    const ids = [...new Set(rows.map((s) => s.session.keyId))].join(', ');
    throw new SessionKeyError(
      `${what} (it holds ${
        this.#keys.map((k) => k.id).join(', ')
      }); they are sealed under ${ids}: set WORKER_SESSION_KEY (or WORKER_SESSION_KEYS_OLD during a rotation) to that key`,
    );
  }

  /** True when sessions were stored, re-sealed or deleted since the last look. */
  async moved(db: SqlExecutor): Promise<boolean> {
    const v = await sessionsVersion(db);
    const moved = v !== this.#version;
    this.#version = v;
    return moved;
  }

  /**
   * Brings the held sessions in step with the listing (the accounts that have a stored session):
   * opens the new and re-sealed ones, forgets the deleted. `usable`: accounts whose session this
   * worker holds; `replaced`: accounts whose session or proxy is another one than before (a new
   * sign-in, a proxy set or cleared): their connections must be made anew.
   */
  async update(db: SqlExecutor, listing: SessionListing[]): Promise<{ usable: string[]; replaced: string[] }> {
    const listed = new Map(listing.map((l) => [l.accountId, l.version]));
    for (const id of this.#held.keys()) if (!listed.has(id)) this.#held.delete(id);
    for (const id of this.#unopened.keys()) if (!listed.has(id)) this.#unopened.delete(id);
    const stale = [...listed].filter(([id, at]) => this.#held.get(id)?.version !== at && this.#unopened.get(id) !== at);
    const before = new Map(stale.map(([id]) => [id, this.#held.get(id)]));
    if (stale.length) {
      this.#open(await readSealedSessions(db, stale.map(([id]) => id)));
      this.#log.debug({ accounts: stale.length }, 'stored sessions read again (new, re-sealed or replaced)');
    }
    const replaced = [...before].filter(([id, was]) => {
      const now = this.#held.get(id);
      return was && now && (now.session !== was.session || now.proxyText !== was.proxyText);
    }).map(([id]) => id);
    return { usable: listing.map((l) => l.accountId).filter((id) => this.#held.has(id)), replaced };
  }

  /** The account's session: a secret, never logged. */
  get(accountId: string): string | undefined {
    return this.#held.get(accountId)?.session;
  }

  /** The account's proxy (null: it connects directly): a secret too. */
  proxy(accountId: string): AccountProxy | null {
    return this.#held.get(accountId)?.proxy ?? null;
  }

  /** A session whose proxy does not open is not served: connecting directly would bypass the proxy. */
  #open(stored: StoredSession[]): void {
    for (const s of stored) {
      try {
        const session = openSealed(this.#keys, s.session);
        const proxyText = s.proxy && openSealed(this.#keys, s.proxy);
        const proxy = proxyText === null ? null : parseProxy(proxyText);
        this.#held.set(s.accountId, { version: s.version, session, proxyText, proxy });
        this.#unopened.delete(s.accountId);
      } catch (err) {
        if (!(err instanceof SessionKeyError) && !(err instanceof ProxyFormatError)) throw err;
        this.#held.delete(s.accountId);
        this.#unopened.set(s.accountId, s.version);
        this.#log.error(
          { accountId: s.accountId, keyId: s.session.keyId, reason: err.message },
          'stored session does not open: not serving this account',
        );
      }
    }
  }
}
