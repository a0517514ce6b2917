// Worker processes for end-to-end tests: worker/src/main.ts as a child of the test process, each
// SIGKILLed when its test ends (or this process exits), and the environment of a gramjs worker on
// the MTProto stand-in.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import type { TelegramStandIn } from '../../scripts/telegram/mtproto/server.ts';
import { waitFor, type World } from './fixtures.ts';

export interface WorkerProcess {
  child: ChildProcess;
  /** What it wrote so far (stdout and stderr). */
  log(): string;
}

/** Starts and kills worker processes; registers the hooks that reap them, so call it at a file's top level. */
export function workerProcesses() {
  const children: ChildProcess[] = [];
  const reap = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children.length = 0;
  };
  afterEach(reap);
  afterAll(reap);
  process.once('exit', reap);

  /** A worker with `env` added to this process's, not waited for (WORKER_TEST_LOG echoes its stderr). */
  function spawnWorker(env: Record<string, string>): WorkerProcess {
    let out = '';
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), ['worker/src/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, WORKER_HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
      // The IPC channel closes if the test process dies: the worker then stops by itself.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.channel?.unref();
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => {
      out += d;
      if (process.env.WORKER_TEST_LOG) process.stderr.write(d);
    });
    children.push(child);
    return { child, log: () => out };
  }

  /** A worker with `env` added to this process's; resolves once it has started. */
  async function start(env: Record<string, string>): Promise<WorkerProcess> {
    const w = spawnWorker(env);
    await waitFor('the worker started', async () => w.log().includes('"worker started"'), 60_000, 100);
    return w;
  }

  async function kill(child: ChildProcess): Promise<void> {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }

  return { spawn: spawnWorker, start, kill };
}

/** A gramjs worker's environment on the stand-in `s` (accounts or the session key come on top). */
export function standInEnv(s: TelegramStandIn): Record<string, string> {
  return {
    TELEGRAM_MODE: 'gramjs',
    TELEGRAM_API_ID: String(s.apiId),
    TELEGRAM_API_HASH: s.apiHash,
    TELEGRAM_SERVER: JSON.stringify({ dcs: s.dcs, publicKeyPem: s.publicKeyPem }),
  };
}

/** A simulator worker's environment for the world `w`: the simulator keeps its messages in the test's database. */
export function simulatorEnv(w: World): Record<string, string> {
  return {
    DATABASE_URL: w.db.url,
    TELEGRAM_MODE: 'simulator',
    TELEGRAM_ACCOUNTS: JSON.stringify([{ accountId: w.accountId }]),
    SIMULATOR_DATABASE_URL: w.db.url,
    SIMULATOR_CONFIG: JSON.stringify({ accountPerSecond: 10_000, latencyMs: [1, 3] }),
    SUPERVISE_SECONDS: '2',
    POLLING_SECONDS: '1',
  };
}
