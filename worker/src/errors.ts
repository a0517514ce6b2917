// Telegram failures, classified into the worker's actions (worker/README.md, "Telegram limits it
// respects"). Classification reads GramJS's error classes and Telegram's errorMessage, never the
// human-readable text.
import { errors } from 'telegram';

export type Classified =
  | { kind: 'flood_wait'; seconds: number; code: string; message: string }
  | { kind: 'slowmode'; seconds: number; code: string; message: string }
  /** FLOOD_PREMIUM_WAIT_X: uploads of this (non-Premium) account are throttled; other calls go on. */
  | { kind: 'upload_wait'; seconds: number; code: string; message: string }
  /** unknown: the call may have reached Telegram (timeout, dropped connection). */
  | { kind: 'transient'; code: string; message: string; unknown: boolean }
  /** RANDOM_ID_DUPLICATE: a first call with this random_id is still in flight at Telegram. */
  | { kind: 'in_flight'; code: string; message: string }
  | { kind: 'permanent'; code: string; message: string }
  | { kind: 'account'; status: 'limited' | 'revoked' | 'frozen'; code: string; message: string };

/** Raised by the worker's own per-call timeout. */
export class SendTimeoutError extends Error {
  readonly errorMessage = 'TIMEOUT';
}

/** 401 UNAUTHORIZED answers (core.telegram.org/api/errors, "401 UNAUTHORIZED"): the session is gone. */
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
/**
 * A frozen account may only call a few methods (core.telegram.org/api/auth#frozen-accounts): every
 * other call answers 420 FROZEN_METHOD_INVALID, and a chat it is not in FROZEN_PARTICIPANT_MISSING.
 * It stays so until Telegram lifts the freeze (appeal through the app): an account-level state.
 */
const FROZEN = new Set(['FROZEN_METHOD_INVALID', 'FROZEN_PARTICIPANT_MISSING']);
/** Answers a later try may not get: retried with the same random_id, failed after the last try. */
const TRANSIENT = new Set([
  'INTERNAL',
  'TIMEOUT',
  'WORKER_BUSY_TOO_LONG_RETRY',
  'MSG_WAIT_FAILED',
  'MSG_WAIT_TIMEOUT',
  'NEED_MEMBER_INVALID',
  'PERSISTENT_TIMESTAMP_OUTDATED',
  'HISTORY_GET_FAILED',
  // 400 "Please initialize the connection using initConnection before making queries": refused
  // before it ran; the gateway connects again (sending initConnection) before this is retried.
  'CONNECTION_NOT_INITED',
]);
/**
 * Answers after which Telegram cannot say whether the request ran: -503 Timeout ("the request may
 * or may not have been executed", core.telegram.org/api/errors), and an internal RPC call that
 * failed mid-way (RPC_CALL_FAIL, RPC_MCGET_FAIL). Such a delivery ends unconfirmed, never failed.
 */
const UNKNOWN = new Set(['RPC_CALL_FAIL', 'RPC_MCGET_FAIL', 'Timeout']);

/**
 * Telegram no longer takes the uploaded file a send refers to (its file reference expired, or the
 * reference is unknown, e.g. kept from before a restart): upload again and resend, no attempt spent.
 */
const STALE_MEDIA = new Set(['FILE_REFERENCE_EXPIRED', 'FILE_REFERENCE_INVALID', 'FILE_REFERENCE_EMPTY', 'MEDIA_EMPTY']);

export function isStaleMedia(err: unknown): boolean {
  const rpc = (err as { errorMessage?: unknown } | null)?.errorMessage;
  return typeof rpc === 'string' && (STALE_MEDIA.has(rpc) || rpc.startsWith('FILE_REFERENCE_'));
}

/** The waits Telegram names with their seconds (core.telegram.org/api/errors, "420 FLOOD"). */
const WAIT = /^(FLOOD_WAIT|FLOOD_TEST_PHONE_WAIT|FLOOD_PREMIUM_WAIT|SLOWMODE_WAIT)_(\d+)$/;

function waitOf(rpc: string, message: string): Classified | null {
  const m = WAIT.exec(rpc);
  if (!m) return null;
  const seconds = Math.max(1, Number(m[2]));
  if (m[1] === 'SLOWMODE_WAIT') return { kind: 'slowmode', seconds, code: rpc, message };
  if (m[1] === 'FLOOD_PREMIUM_WAIT') return { kind: 'upload_wait', seconds, code: rpc, message };
  return { kind: 'flood_wait', seconds, code: rpc, message };
}

/** GramJS's classes for the answers it parses, back to Telegram's names (errors/RPCErrorList.js). */
export function telegramName(err: unknown): string | null {
  if (err instanceof errors.FloodWaitError) return `FLOOD_WAIT_${err.seconds}`;
  if (err instanceof errors.FloodTestPhoneWaitError) return `FLOOD_TEST_PHONE_WAIT_${err.seconds}`;
  if (err instanceof errors.SlowModeWaitError) return `SLOWMODE_WAIT_${err.seconds}`;
  if (err instanceof errors.FileMigrateError) return `FILE_MIGRATE_${err.newDc}`;
  if (err instanceof errors.UserMigrateError) return `USER_MIGRATE_${err.newDc}`;
  if (err instanceof errors.PhoneMigrateError) return `PHONE_MIGRATE_${err.newDc}`;
  if (err instanceof errors.NetworkMigrateError) return `NETWORK_MIGRATE_${err.newDc}`;
  const rpc = (err as { errorMessage?: unknown } | null)?.errorMessage;
  return typeof rpc === 'string' ? rpc : null;
}

export function classify(err: unknown): Classified {
  const e = err as { code?: unknown; message?: unknown };
  const message = String(e?.message ?? err).slice(0, 500);
  if (err instanceof SendTimeoutError) return { kind: 'transient', code: 'TIMEOUT', message, unknown: true };
  const rpc = telegramName(err);
  const code = typeof e?.code === 'number' ? e.code : null;
  if (rpc === null) {
    // Not an RPC answer: a dropped connection, a socket error.
    return { kind: 'transient', code: 'NETWORK', message, unknown: true };
  }
  const wait = waitOf(rpc, message);
  if (wait) return wait;
  if (rpc === 'RANDOM_ID_DUPLICATE') return { kind: 'in_flight', code: rpc, message };
  if (rpc === 'PEER_FLOOD') return { kind: 'account', status: 'limited', code: rpc, message };
  if (FROZEN.has(rpc)) return { kind: 'account', status: 'frozen', code: rpc, message };
  if (REVOKED.has(rpc) || code === 401) return { kind: 'account', status: 'revoked', code: rpc, message };
  if (UNKNOWN.has(rpc) || (code !== null && code < 0)) return { kind: 'transient', code: rpc, message, unknown: true };
  // 303: repeat on another DC. GramJS's invoke has already switched the client to it for
  // USER_MIGRATE_X (client/users.js), so a retry goes there; FILE_/PHONE_/NETWORK_/STATS_MIGRATE_X
  // are not followed for a signed-in sender, and a retry on this DC would get the same answer.
  if (rpc.startsWith('USER_MIGRATE_')) return { kind: 'transient', code: rpc, message, unknown: false };
  if (TRANSIENT.has(rpc) || (code !== null && code >= 500)) return { kind: 'transient', code: rpc, message, unknown: false };
  // 303 migrations above, 400/403/404/406, and a 420 without a wait to honour: sending again will not help.
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
