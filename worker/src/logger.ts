// JSON logs with pino. Secrets are redacted by key wherever they appear, so a config object or
// an error carrying a session can be logged safely.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'session', '*.session', '*[*].session', '*.*[*].session', 'config.accounts[*].session', 'accounts[*].session',
  'apiHash', '*.apiHash', 'botToken', '*.botToken', 'password', '*.password', 'databaseUrl', '*.databaseUrl',
  'simulatorDatabaseUrl', '*.simulatorDatabaseUrl', 'connectionString', '*.connectionString',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { service: 'tg-worker' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

export type { Logger };
