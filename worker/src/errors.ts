// Telegram failures, classified into the worker's actions (worker/README.md, "Telegram limits it
// respects"). Classification reads GramJS's error classes and Telegram's errorMessage, never the
// human-readable text.
import { errors } from 'telegram';
import { SessionNotAuthorizedError } from './gateway/types.ts';

export type Classified =
  | { kind: 'flood_wait'; seconds: number; code: string; message: string }
  | { kind: 'slowmode'; seconds: number; code: string; message: string }
  /** unknown: the call may have reached Telegram (timeout, dropped connection). */
  | { kind: 'transient'; code: string; message: string; unknown: boolean }
  /** RANDOM_ID_DUPLICATE: a first call with this random_id is still in flight at Telegram. */
  | { kind: 'in_flight'; code: string; message: string }
  | { kind: 'permanent'; code: string; message: string }
  | { kind: 'account'; status: 'peer_flood' | 'revoked'; code: string; message: string };

/** Raised by the worker's own per-call timeout. */
export class SendTimeoutError extends Error {
  readonly errorMessage = 'TIMEOUT';
}

const REVOKED = new Set([
  'AUTH_KEY_UNREGISTERED',
  'AUTH_KEY_INVALID',
  'AUTH_KEY_PERM_EMPTY',
  'AUTH_KEY_DUPLICATED',
  'SESSION_REVOKED',
  'SESSION_EXPIRED',
  'SESSION_PASSWORD_NEEDED',
  'USER_DEACTIVATED',
  'USER_DEACTIVATED_BAN',
]);
const TRANSIENT = new Set([
  'RPC_CALL_FAIL',
  'RPC_MCGET_FAIL',
  'INTERNAL',
  'TIMEOUT',
  'WORKER_BUSY_TOO_LONG_RETRY',
  'MSG_WAIT_FAILED',
  'MSG_WAIT_TIMEOUT',
  'NEED_MEMBER_INVALID',
  'PERSISTENT_TIMESTAMP_OUTDATED',
  'HISTORY_GET_FAILED',
]);

/**
 * Telegram no longer takes the uploaded file a send refers to (its file reference expired, or the
 * reference is unknown, e.g. kept from before a restart): upload again and resend, no attempt spent.
 */
const STALE_MEDIA = new Set(['FILE_REFERENCE_EXPIRED', 'FILE_REFERENCE_INVALID', 'FILE_REFERENCE_EMPTY', 'MEDIA_EMPTY']);

export function isStaleMedia(err: unknown): boolean {
  const rpc = (err as { errorMessage?: unknown } | null)?.errorMessage;
  return typeof rpc === 'string' && (STALE_MEDIA.has(rpc) || rpc.startsWith('FILE_REFERENCE_'));
}

export function classify(err: unknown): Classified {
  const e = err as { errorMessage?: unknown; code?: unknown; message?: unknown; seconds?: unknown };
  const message = String(e?.message ?? err).slice(0, 500);
  if (err instanceof errors.FloodWaitError || err instanceof errors.FloodTestPhoneWaitError) {
    const seconds = Math.max(1, Number(err.seconds) || 1);
    return { kind: 'flood_wait', seconds, code: `FLOOD_WAIT_${seconds}`, message };
  }
  if (err instanceof errors.SlowModeWaitError) {
    const seconds = Math.max(1, Number(err.seconds) || 1);
    return { kind: 'slowmode', seconds, code: `SLOWMODE_WAIT_${seconds}`, message };
  }
  if (err instanceof SendTimeoutError) return { kind: 'transient', code: 'TIMEOUT', message, unknown: true };
  if (err instanceof SessionNotAuthorizedError) return { kind: 'account', status: 'revoked', code: err.errorMessage, message };
  const rpc = typeof e?.errorMessage === 'string' ? e.errorMessage : null;
  const code = typeof e?.code === 'number' ? e.code : null;
  if (rpc === null) {
    // Not an RPC answer: a dropped connection, "Request was unsuccessful", a socket error.
    return { kind: 'transient', code: 'NETWORK', message, unknown: true };
  }
  if (rpc === 'RANDOM_ID_DUPLICATE') return { kind: 'in_flight', code: rpc, message };
  if (rpc === 'PEER_FLOOD') return { kind: 'account', status: 'peer_flood', code: rpc, message };
  if (REVOKED.has(rpc) || code === 401) return { kind: 'account', status: 'revoked', code: rpc, message };
  if (code === 420) return { kind: 'flood_wait', seconds: 60, code: rpc, message }; // FLOOD without a number
  if (TRANSIENT.has(rpc) || (code !== null && (code >= 500 || code < 0 || code === 303))) {
    return { kind: 'transient', code: rpc, message, unknown: false };
  }
  // 400/403/404/406 and anything else Telegram answered deliberately: sending again will not help.
  return { kind: 'permanent', code: rpc, message };
}

/** Retry delay for the n-th failed attempt (1-based): base, 2×base, 4×base; null = give up. */
export function retryDelayMs(failedAttempt: number, baseSeconds: number, jitter: number, random = Math.random): number | null {
  if (failedAttempt > 3) return null;
  // Jitter only lengthens the wait, so a retry never comes before the promised 5/10/20 s.
  return Math.round(baseSeconds * 1000 * 2 ** (failedAttempt - 1) * (1 + jitter * random()));
}

/** Re-check of a RANDOM_ID_DUPLICATE answer: 1 s, 2 s, 4 s … up to 60 s (n = 1, 2, …). */
export function inFlightDelayMs(n: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, n - 1));
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new SendTimeoutError(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
