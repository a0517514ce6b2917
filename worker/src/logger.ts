// JSON logs with pino. Secrets are redacted by key wherever they appear, so a config object or
// an error carrying a session can be logged safely.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'session',
  '*.session',
  '*[*].session',
  '*.*[*].session',
  'config.accounts[*].session',
  'accounts[*].session',
  'apiHash',
  '*.apiHash',
  'botToken',
  '*.botToken',
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
  'simulatorDatabaseUrl',
  '*.simulatorDatabaseUrl',
  'connectionString',
  '*.connectionString',
  'serviceRoleKey',
  '*.serviceRoleKey',
  'sessionKey',
  '*.sessionKey',
  'sessionKeysOld',
  '*.sessionKeysOld',
];

const PLAIN = new Set(['string', 'number', 'boolean', 'bigint']);

/**
 * An error as its type, message, code, stack and other plain fields (Telegram's `seconds`,
 * Postgres' `detail`), with its cause: never the objects libraries hang on errors (a pg client
 * with its connection parameters and type tables, a request), which would fill one log line.
 */
export function serializeError(err: unknown, depth = 0): unknown {
  if (err === null || typeof err !== 'object') return err;
  const out: Record<string, unknown> = {};
  if (err instanceof Error) Object.assign(out, { type: err.constructor?.name ?? err.name, message: err.message });
  for (const [k, v] of Object.entries(err)) {
    if (v === null || PLAIN.has(typeof v)) out[k] = typeof v === 'bigint' ? v.toString() : v;
  }
  if (err instanceof Error) {
    out.stack = err.stack;
    if (err.cause !== undefined && depth < 3) out.cause = serializeError(err.cause, depth + 1);
    if (err instanceof AggregateError && depth < 3) out.errors = err.errors.slice(0, 5).map((e) => serializeError(e, depth + 1));
  }
  return out;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'tg-worker' },
    serializers: { err: serializeError, error: serializeError },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  }, destination);
}

export type { Logger };
