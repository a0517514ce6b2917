// The Postgres that bench and faults run against: by default an embedded cluster of their own
// (persistent data dir, so the fault suite can stop and restart it), migrated once into a
// template that each scenario clones in milliseconds. The tests start one of these too: the
// restart scenario must not touch the shared test cluster other suites live on.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningPostgres, startEmbeddedPostgres } from '../lib/embedded-postgres.ts';
import { buildTemplate, cloneDatabase, dropDatabase, withClient } from '../lib/database.ts';

export interface AppDatabase {
  name: string;
  /** As role `postgres` (what the worker and functions use on hosted Supabase). */
  url: string;
  /** As the superuser, for fixtures only (auth.users). */
  adminUrl: string;
  drop(): Promise<void>;
}

export interface BenchCluster {
  /** Superuser URL to the maintenance database. */
  adminUrl: string;
  /** False with DATABASE_URL: we may not stop someone else's server. */
  canRestart: boolean;
  /** Stops Postgres cleanly, waits downMs, starts it again on the same port and data. */
  restart(downMs: number): Promise<void>;
  /**
   * SIGKILLs the postmaster and then its children (a crash: no shutdown checkpoint), waits
   * downMs, starts Postgres on the same port and data dir: it replays its WAL before it
   * accepts connections. Resolves with how long the start (recovery included) took.
   */
  crash(downMs: number): Promise<{ startMs: number }>;
  /** The postmaster's pid when it runs on this machine (for CPU accounting). */
  postmasterPid(): Promise<number | undefined>;
  createDatabase(prefix?: string): Promise<AppDatabase>;
  stop(): Promise<void>;
}

const TEMPLATE = 'tg_bench_template';

function cloner(adminUrl: string, template: string) {
  return async (prefix = 'tg_bench'): Promise<AppDatabase> => {
    const db = await cloneDatabase(adminUrl, template, `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`);
    return { ...db, drop: () => dropDatabase(adminUrl, db.name) };
  };
}

async function postmasterPidOf(adminUrl: string): Promise<number | undefined> {
  // The backend serving us is a child of the postmaster; read its parent while it is alive.
  return await withClient(adminUrl, async (c) => {
    const pid = (await c.query('select pg_backend_pid() as p')).rows[0].p as number;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isFinite(ppid) && ppid > 1 ? ppid : undefined;
  });
}

/** Live processes whose parent is `pid` (a postmaster's backends and auxiliary processes). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface OwnClusterOptions {
  /** fsync/synchronous_commit off: fine for correctness tests, flattering for benchmarks. */
  fast?: boolean;
  log?: (msg: string) => void;
}

/** An embedded cluster of our own (or DATABASE_URL's), migrated into a template. */
export async function startOwnCluster(opts: OwnClusterOptions = {}): Promise<BenchCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tg-bench-pg-'));
  const start = (port?: number) => startEmbeddedPostgres({ dataDir, port, persistent: true, fast: opts.fast ?? false });
  let server: RunningPostgres = await start();
  const cleanup = async () => {
    await server.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await buildTemplate(server.adminUrl, TEMPLATE);
  } catch (err) {
    await cleanup();
    throw err;
  }
  opts.log?.(`postgres ${server.external ? '(DATABASE_URL)' : `on 127.0.0.1:${server.port}`}, template ${TEMPLATE} migrated`);
  const adminUrl = server.adminUrl;
  return {
    adminUrl,
    canRestart: !server.external,
    async restart(downMs) {
      if (server.external) throw new Error('DATABASE_URL cluster cannot be restarted');
      const port = server.port;
      await server.stop();
      await new Promise((r) => setTimeout(r, downMs));
      server = await start(port);
    },
    async crash(downMs) {
      if (server.external) throw new Error('DATABASE_URL cluster cannot be crashed');
      const port = server.port;
      const pid = await postmasterPidOf(adminUrl);
      if (!pid) throw new Error('postmaster pid not found');
      const children = childPids(pid);
      process.kill(pid, 'SIGKILL');
      // Orphaned backends would keep the old shared memory attached and block the new start.
      for (const c of children) {
        try {
          process.kill(c, 'SIGKILL');
        } catch { /* gone already */ }
      }
      await server.stop().catch(() => {});
      while (children.some(alive) || alive(pid)) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, downMs));
      const t = Date.now();
      server = await start(port);
      return { startMs: Date.now() - t };
    },
    postmasterPid: () => (server.external ? Promise.resolve(undefined) : postmasterPidOf(adminUrl)),
    createDatabase: cloner(adminUrl, TEMPLATE),
    stop: cleanup,
  };
}
