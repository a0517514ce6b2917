// The real worker (worker/src/main.ts) as a child process, configured for the simulator with
// its sent messages kept in Postgres (SIMULATOR_DATABASE_URL), so they outlive a SIGKILL.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../lib/embedded-postgres.ts';
import { REPO_ROOT } from '../lib/migrate.ts';
import { type Service, startService, waitForHttp } from '../stack/process.ts';
import { processCpuMs } from './cpu.ts';
import { RESULTS_ROOT } from './report.ts';

export const NODE = join(REPO_ROOT, 'node_modules/.bin/node');

export interface WorkerProcessOptions {
  name: string;
  databaseUrl: string;
  accountIds: string[];
  /** SIMULATOR_CONFIG (latency, fault injection): the simulator's own option names. */
  simulator?: Record<string, unknown>;
  /** Extra environment (SEND_TIMEOUT_MS, RETRY_BASE_SECONDS, ...). */
  env?: Record<string, string>;
  /** Where logs go: .local/<logDir>/<name>.log */
  logDir: string;
  /** Wait for /health (default); false for a worker expected to wait on a lock. */
  waitReady?: boolean;
  /**
   * Where the simulator keeps messages: 'postgres' (default: they outlive a SIGKILL, the audit
   * counts them) or 'memory' (the fleet bench: the simulator then costs the database nothing).
   */
  simulatorStore?: 'postgres' | 'memory';
  /** How long to wait for /health (default 30 s). */
  readyTimeoutMs?: number;
  /** The script to run instead of worker/src/main.ts (one that ends by importing it). */
  entry?: string;
}

export interface WorkerProcess {
  name: string;
  pid: number;
  port: number;
  service: Service;
  /** SIGKILL, no goodbye; resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful), SIGKILL after timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
  cpuMs(): number | undefined;
  metrics(): Promise<string>;
}

export async function spawnWorker(o: WorkerProcessOptions): Promise<WorkerProcess> {
  const port = await freePort();
  const logs = join(RESULTS_ROOT, o.logDir);
  mkdirSync(logs, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: o.databaseUrl,
    TELEGRAM_MODE: 'simulator',
    TELEGRAM_ACCOUNTS: JSON.stringify(o.accountIds.map((accountId) => ({ accountId }))),
    SIMULATOR_DATABASE_URL: o.databaseUrl,
    SIMULATOR_CONFIG: JSON.stringify(o.simulator ?? {}),
    WORKER_HTTP_HOST: '127.0.0.1',
    WORKER_HTTP_PORT: String(port),
    LOG_LEVEL: 'info',
    ...o.env,
  };
  if (o.simulatorStore === 'memory') delete env.SIMULATOR_DATABASE_URL;
  const service = startService({
    name: o.name,
    // The pinned Node 24 (type stripping), whatever runs us (vitest may be on the system's Node).
    command: NODE,
    args: [o.entry ?? join(REPO_ROOT, 'worker/src/main.ts')],
    cwd: REPO_ROOT,
    logFile: join(logs, `${o.name}.log`),
    env,
    ipc: true, // the worker stops by itself if we die without stopping it
  });
  const pid = service.child.pid!;
  if (o.waitReady !== false) await waitForHttp(`http://127.0.0.1:${port}/health`, service, o.readyTimeoutMs ?? 30_000);
  return {
    name: o.name,
    pid,
    port,
    service,
    async kill() {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        service.child.kill('SIGKILL');
      }
      await service.exited;
    },
    stop: (timeoutMs = 15_000) => service.stop(timeoutMs),
    cpuMs: () => processCpuMs(pid),
    async metrics() {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
      return await r.text();
    },
  };
}
