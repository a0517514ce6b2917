// `node worker/src/main.ts`: the worker as a process (pm2, systemd, the local stack). SIGTERM
// and SIGINT stop it gracefully: in-flight sends finish and are recorded, then exit 0, within
// SEND_TIMEOUT_MS + 15 s whether or not the database answers. Started by a parent with an IPC
// channel (scripts, tests), it stops the same way when that parent is gone.
import { ConfigError, configFromEnv } from './config.ts';
import { createLogger } from './logger.ts';
import { startWorker, STOP_AFTER_SENDS_MS } from './worker.ts';

const USAGE = `Usage: npm run worker

The delivery worker, configured by its environment (worker/README.md, "Running it"): DATABASE_URL,
TELEGRAM_MODE (gramjs | simulator), TELEGRAM_ACCOUNTS or WORKER_SESSION_KEY (sessions stored in the
database), TELEGRAM_API_ID, TELEGRAM_API_HASH, and
optionally SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, WORKER_HTTP_PORT, WORKER_HTTP_HOST,
WORKER_MAX_CONNECTIONS, LOG_LEVEL and the tuning variables. It takes no flags.
SIGTERM or SIGINT stops it gracefully. Invalid configuration exits with code 2.`;

if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
  console.log(USAGE);
  process.exit(0);
}

let config;
try {
  config = configFromEnv();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
const log = createLogger(config.logLevel);
// The parent that started us with an IPC channel died (even by SIGKILL): nobody would stop us.
const orphaned = process.channel ? new Promise<void>((r) => process.once('disconnect', () => r())) : null;
process.channel?.unref();
// The same parent may have read our output: a closed pipe (EPIPE) must not cut the stop short.
for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
const worker = await startWorker(config, { logger: log }).catch((err: unknown) => {
  log.fatal({ err }, 'worker failed to start');
  process.exit(1);
});

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  const limitMs = config.sendTimeoutMs + STOP_AFTER_SENDS_MS + 5_000;
  const force = setTimeout(() => {
    log.error({ limitMs }, 'shutdown took too long; exiting');
    process.exit(1);
  }, limitMs);
  force.unref();
  worker.stop().then(() => process.exit(0), (err: unknown) => {
    log.error({ err }, 'shutdown failed');
    process.exit(1);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
void orphaned?.then(() => shutdown('parent gone'));
