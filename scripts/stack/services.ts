// The long-running services of the stack: the functions router (Deno under
// scripts/functions-server.ts) and the worker (worker/src/main.ts), each its own process like in
// production, and the API gateway with the Realtime stand-in (in this process). The Telegram
// stand-in is telegram.ts.
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../lib/migrate.ts';
import { startFunctionsServer } from '../functions-server.ts';
import { startGateway } from './gateway.ts';
import { logSink, NODE_BIN, startService, trackChild, waitForHttp } from './process.ts';

const READY_TIMEOUT_MS = 60_000;

export interface ServiceOptions {
  env: NodeJS.ProcessEnv;
  logsDir: string;
  echo: boolean;
}

export interface RunningService {
  stop(): Promise<void>;
}

/** The Deno router of scripts/functions-server.ts (it resolves once Deno serves). */
export async function startFunctions(o: ServiceOptions & { port: number }): Promise<RunningService> {
  const sink = logSink('functions', join(o.logsDir, 'functions.log'), o.echo);
  try {
    const fx = await startFunctionsServer({
      port: o.port,
      env: o.env,
      timeoutMs: READY_TIMEOUT_MS,
      log: (line) => sink.write(`${line}\n`),
    });
    trackChild(fx.child);
    return {
      stop: async () => {
        await fx.stop();
        sink.end();
      },
    };
  } catch (err) {
    sink.end();
    throw new Error(`${(err as Error).message}\n${sink.tail()}`);
  }
}

/**
 * The stack's API URL on `port`: /functions/v1 proxied to the router at `functionsOrigin`,
 * /realtime/v1/websocket and /storage/v1 served by the stand-ins (log: <logsDir>/realtime.log).
 */
export async function startApi(
  o: { port: number; functionsOrigin: string; dbUrl: string; jwtSecret: string; logsDir: string; echo: boolean },
): Promise<RunningService & { apiUrl: string }> {
  const sink = logSink('realtime', join(o.logsDir, 'realtime.log'), o.echo);
  try {
    const gw = await startGateway({
      port: o.port,
      functionsOrigin: o.functionsOrigin,
      realtime: { dbUrl: o.dbUrl, jwtSecret: o.jwtSecret, log: (line) => sink.write(`${line}\n`) },
      // Files next to the logs, in the stack's directory (kept across restarts like pgdata).
      storage: { dir: join(dirname(o.logsDir), 'storage'), log: (line) => sink.write(`storage: ${line}\n`) },
    });
    return {
      apiUrl: gw.apiUrl,
      stop: async () => {
        await gw.stop();
        sink.end();
      },
    };
  } catch (err) {
    sink.end();
    throw err;
  }
}

export interface WorkerOptions extends ServiceOptions {
  /** Which Telegram: the stand-in's env (TELEGRAM_SERVER, …) is already in `env`. */
  mode: 'stand-in' | 'simulator' | 'real';
  /** The demo account; with real Telegram and TELEGRAM_SESSION, the worker sends for it through GramJS. */
  accountId: string;
  httpPort: number;
}

/**
 * The worker in its own process. simulator: it keeps its sent messages in the stack's database
 * (SIMULATOR_DATABASE_URL) so the demo can count duplicates per peer. real: TELEGRAM_SESSION
 * (with TELEGRAM_API_ID/TELEGRAM_API_HASH) becomes the demo account's, unless TELEGRAM_ACCOUNTS is set.
 */
export async function startWorker(o: WorkerOptions): Promise<RunningService> {
  const env: NodeJS.ProcessEnv = { ...o.env, WORKER_HTTP_PORT: String(o.httpPort), WORKER_HTTP_HOST: '127.0.0.1' };
  const session = o.env.TELEGRAM_SESSION;
  if (o.mode === 'real' && session && !o.env.TELEGRAM_ACCOUNTS) {
    env.TELEGRAM_ACCOUNTS = JSON.stringify([{ accountId: o.accountId, session }]);
  }
  if (o.mode === 'simulator') env.SIMULATOR_DATABASE_URL ??= o.env.DATABASE_URL;
  env.TELEGRAM_MODE = o.mode === 'simulator' ? 'simulator' : 'gramjs'; // the worker requires the mode to be explicit
  delete env.TELEGRAM_SESSION; // the worker reads TELEGRAM_ACCOUNTS; one copy of a secret is enough
  const service = startService({
    name: 'worker',
    command: NODE_BIN,
    args: [join(REPO_ROOT, 'worker/src/main.ts')],
    env,
    cwd: REPO_ROOT,
    logFile: join(o.logsDir, 'worker.log'),
    echo: o.echo,
  });
  await waitForHttp(`http://127.0.0.1:${o.httpPort}/health`, service, READY_TIMEOUT_MS);
  return { stop: () => service.stop(15_000) };
}
