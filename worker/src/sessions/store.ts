// The SQL of sealed sessions: thin calls of the security-definer RPCs
// (supabase/migrations/*_sealed_sessions.sql), the only way any role reaches the table.
import type { SqlExecutor } from '../db.ts';
import { seal, type SealedSession, type SessionKey } from './vault.ts';

export interface StoredSession {
  accountId: string;
  session: SealedSession;
  /** The account's proxy, sealed the same way, when it has one. */
  proxy: SealedSession | null;
  sealedAt: Date;
  /** sealed_at to the microsecond: changes with every write of the row. */
  version: string;
}

/** Seals `session` under `key` and stores it as the account's (replacing any it had). */
export async function storeSession(db: SqlExecutor, key: SessionKey, accountId: string, session: string): Promise<void> {
  const s = seal(key, session);
  await db.query('select public.worker_store_session($1, $2, $3, $4)', [accountId, s.keyId, s.nonce, s.ciphertext]);
}

const sealedOf = (keyId: string | null, nonce: Buffer | null, ciphertext: Buffer | null): SealedSession | null =>
  keyId && nonce && ciphertext ? { keyId, nonce, ciphertext } : null;

/** The sealed sessions of these accounts (those that have one); null: of every account, oldest first, at most `limit`. */
export async function readSealedSessions(
  db: SqlExecutor,
  accountIds: string[] | null,
  limit = 100_000,
): Promise<StoredSession[]> {
  const { rows } = await db.query('select *, sealed_at::text as version from public.worker_sealed_sessions($1::uuid[], $2)', [
    accountIds,
    limit,
  ]);
  return rows.map((r) => ({
    accountId: r.account_id,
    session: sealedOf(r.key_id, r.nonce, r.ciphertext)!,
    proxy: sealedOf(r.proxy_key_id, r.proxy_nonce, r.proxy_ciphertext),
    sealedAt: r.sealed_at,
    version: r.version,
  }));
}

export interface SessionListing {
  accountId: string;
  keyId: string;
  sealedAt: Date;
  version: string;
}

/** The accounts that have a stored session, oldest first, at most `limit`: no ciphertext. */
export async function sessionAccounts(db: SqlExecutor, limit: number): Promise<SessionListing[]> {
  const { rows } = await db.query('select *, sealed_at::text as version from public.worker_session_accounts($1)', [limit]);
  return rows.map((r) => ({ accountId: r.account_id, keyId: r.key_id, sealedAt: r.sealed_at, version: r.version }));
}

/** Moves whenever a session is stored, re-sealed or deleted. */
export async function sessionsVersion(db: SqlExecutor): Promise<string> {
  const { rows } = await db.query('select public.worker_sessions_version() as v');
  return rows[0].v as string;
}

/** Replaces a stored row by the same secrets sealed under another key, unless it changed since it was read. */
export async function resealSession(
  db: SqlExecutor,
  was: StoredSession,
  session: SealedSession,
  proxy: SealedSession | null,
): Promise<boolean> {
  const { rows } = await db.query('select public.worker_reseal_session($1, $2, $3, $4, $5, $6, $7, $8) as done', [
    was.accountId,
    was.session.nonce,
    session.keyId,
    session.nonce,
    session.ciphertext,
    proxy?.keyId ?? null,
    proxy?.nonce ?? null,
    proxy?.ciphertext ?? null,
  ]);
  return rows[0].done === true;
}
