// `node worker/src/main.ts`: the worker as a process (pm2, systemd, the local stack). SIGTERM
// and SIGINT stop it gracefully: in-flight sends finish and are recorded, then exit 0.
import { ConfigError, configFromEnv } from './config.ts';
import { createLogger } from './logger.ts';
import { startWorker } from './worker.ts';

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
const worker = await startWorker(config, { logger: log }).catch((err: unknown) => {
  log.fatal({ err }, 'worker failed to start');
  process.exit(1);
});

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    log.error('shutdown took over 60 s; exiting');
    process.exit(1);
  }, 60_000);
  force.unref();
  worker.stop().then(() => process.exit(0), (err: unknown) => {
    log.error({ err }, 'shutdown failed');
    process.exit(1);
  });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
