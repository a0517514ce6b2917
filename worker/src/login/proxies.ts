// Proxies as owners set them (supabase/migrations/*_account_proxies.sql): sealed by the function
// for the workers' login key, queued; opened here and re-sealed under the session key into the
// account's sealed session row, where the fleet reads it. An account without a session keeps its
// proxy queued: its sign-in goes through it, and stores it with the session it signs in.
import type { SqlExecutor } from '../db.ts';
import type { Logger } from '../logger.ts';
import { type AccountProxy, parseProxy, proxyLabel } from '../sessions/proxy.ts';
import { openSealed, seal, type SealedSession, type SessionKey } from '../sessions/vault.ts';
import { type LoginKey, openLoginSecret, SealedSecretError } from './seal.ts';

export interface ProxyRequest {
  accountId: string;
  keyId: string;
  sealed: Buffer;
  /** requested_at to the microsecond: a newer request is another one. */
  requestedAt: string;
}

/** A queued proxy, opened: its JSON text (a secret) and what it says. */
export interface OpenedRequest {
  request: ProxyRequest;
  text: string;
  proxy: AccountProxy;
}

const BATCH = 100;

/** Opens a queued proxy; throws SealedSecretError when none of `keys` is its key, or it was altered. */
export function openRequest(keys: LoginKey[], request: ProxyRequest): OpenedRequest {
  const key = keys.find((k) => k.id === request.keyId);
  if (!key) throw new SealedSecretError(`proxy sealed for key ${request.keyId}, which this worker does not hold`);
  const text = openLoginSecret(key, request.sealed, `${request.accountId}:proxy`);
  return { request, text, proxy: parseProxy(text) };
}

/** Stores the opened proxy sealed under `key` with the account's session, unless it was replaced or cleared meanwhile. */
export async function storeProxy(db: SqlExecutor, key: SessionKey, opened: OpenedRequest): Promise<boolean> {
  const s = seal(key, opened.text);
  const { rows } = await db.query('select public.worker_store_proxy($1, $2::timestamptz, $3, $4, $5) as stored', [
    opened.request.accountId,
    opened.request.requestedAt,
    s.keyId,
    s.nonce,
    s.ciphertext,
  ]);
  return rows[0].stored === true;
}

const requestOf = (r: { account_id: string; key_id: string; sealed: Buffer; requested_at: string }): ProxyRequest => ({
  accountId: r.account_id,
  keyId: r.key_id,
  sealed: r.sealed,
  requestedAt: r.requested_at,
});

/**
 * Re-seals the queued proxies of accounts that have a session. One that does not open is logged
 * once (by its request) and left: the owner sets it again.
 */
export async function foldProxies(
  db: SqlExecutor,
  keys: LoginKey[],
  sessionKey: SessionKey,
  log: Logger,
  unopened: Set<string>,
): Promise<void> {
  const { rows } = await db.query(
    'select account_id, key_id, sealed, requested_at::text as requested_at from public.worker_proxy_requests($1, $2)',
    [keys.map((k) => k.id), BATCH],
  );
  for (const request of rows.map(requestOf)) {
    const id = `${request.accountId}@${request.requestedAt}`;
    if (unopened.has(id)) continue;
    try {
      const opened = openRequest(keys, request);
      if (await storeProxy(db, sessionKey, opened)) {
        log.info(
          { accountId: request.accountId, proxy: proxyLabel(opened.proxy) },
          'account proxy stored: the account reconnects through it',
        );
      }
    } catch (err) {
      unopened.add(id);
      log.error({ accountId: request.accountId, reason: (err as Error).message }, 'queued proxy does not open: not stored');
    }
  }
}

/** The proxy a sign-in of the account goes through: the queued one (newest), else the one kept with its session. */
export async function signInProxy(
  db: SqlExecutor,
  accountId: string,
  loginKeys: LoginKey[],
  sessionKeys: SessionKey[],
): Promise<{ proxy: AccountProxy | null; queued: OpenedRequest | null }> {
  const { rows } = await db.query(
    `select request_key_id, request_sealed, requested_at::text as requested_at, key_id, nonce, ciphertext
     from public.worker_account_proxy($1)`,
    [accountId],
  );
  const r = rows[0];
  if (r?.request_sealed) {
    const request = { accountId, keyId: r.request_key_id, sealed: r.request_sealed, requestedAt: r.requested_at };
    const queued = openRequest(loginKeys, request);
    return { proxy: queued.proxy, queued };
  }
  const kept: SealedSession | null = r?.key_id ? { keyId: r.key_id, nonce: r.nonce, ciphertext: r.ciphertext } : null;
  return { proxy: kept && parseProxy(openSealed(sessionKeys, kept)), queued: null };
}
