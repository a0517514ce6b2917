// Worker processes sharing the accounts (worker/src/fleet-share.ts) under faults: three workers
// serve the scenario's accounts from the database (their sessions stored sealed, no list of
// their own), about a third each; one is SIGKILLed and its accounts must resume
// on the other two, or all three are restarted in turn with SIGTERM and each must hand its
// accounts over. An account's takeover time runs from the signal to its first send recorded by
// another worker: the first delivery whose sent_at (the database's clock) follows the moment the
// victim's lock session held none of its locks any more (a SIGTERMed worker records its last
// sends before it releases them; a SIGKILLed one records nothing after it dies).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { summarize, type Summary } from '../bench/stats.ts';
import type { WorkerProcess } from '../bench/worker.ts';
import { sleep } from '../../contracts/time.ts';
import { LOCK_CLASS } from '../../worker/src/db.ts';
import { storeSession } from '../../worker/src/sessions/store.ts';
import { parseSessionKey } from '../../worker/src/sessions/vault.ts';
import { withClient } from '../lib/database.ts';
import type { ScenarioContext, ScenarioSize, ScenarioSpec } from './harness.ts';

export interface TakeoverSize extends ScenarioSize {
  workers: number;
  /** The bound every account must resume within: 15 s after a SIGKILL, 5 s after a SIGTERM. */
  limitMs: number;
}

/** Accounts with fewer deliveries left than this when the signal comes are not timed (they may finish first). */
export const MIN_LEFT = 3;

/** The scenario's own connection to its database, closed with its workers. */
function connect(ctx: ScenarioContext): pg.Pool {
  const sql = new pg.Pool({ connectionString: ctx.db.url, max: 1 });
  sql.on('error', () => {});
  ctx.cleanup(() => sql.end());
  return sql;
}

/** The accounts each live lock session holds (by backend pid). */
async function holders(sql: pg.Pool): Promise<Map<number, string[]>> {
  const { rows } = await sql.query<{ pid: number; account: string }>(
    `select l.pid, a.id::text as account from pg_locks l
     join public.telegram_accounts a on l.objid = hashtext(a.id::text)::oid
     where l.locktype = 'advisory' and l.classid = $1 and l.objsubid = 2 and l.granted`,
    [LOCK_CLASS],
  );
  const out = new Map<number, string[]>();
  for (const r of rows) out.set(r.pid, [...(out.get(r.pid) ?? []), r.account]);
  return out;
}

/** Waits (bounded) until `workers` sessions hold every account evenly; returns the accounts per worker, most first. */
export async function balance(ctx: ScenarioContext, sql: pg.Pool, workers: number, timeoutMs: number): Promise<number[]> {
  const n = ctx.accountIds.length;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = [...(await holders(sql)).values()].map((a) => a.length).sort((a, b) => b - a);
    const even = counts.length === workers && counts.every((c) => c >= Math.floor(n / workers) && c <= Math.ceil(n / workers));
    if (even && counts.reduce((a, b) => a + b, 0) === n) return counts;
    if (Date.now() > deadline) {
      ctx.violations.push(`accounts not spread evenly over ${workers} workers within ${timeoutMs} ms: ${counts.join('/')}`);
      return counts;
    }
    await sleep(100);
  }
}

/** "30/30/30": accounts per worker as the notes show them. */
export const spread = async (ctx: ScenarioContext, sql: pg.Pool, workers: number) =>
  (await balance(ctx, sql, workers, 30_000)).join('/');

/** The lock session of a worker process and the accounts it holds (as its /health and pg_locks agree). */
export async function sessionOf(sql: pg.Pool, w: WorkerProcess): Promise<{ pid: number; accounts: string[] }> {
  const r = await fetch(`http://127.0.0.1:${w.port}/health`, { signal: AbortSignal.timeout(5_000) });
  const running = ((await r.json()) as { accounts: Array<{ accountId: string; status: string }> }).accounts
    .filter((a) => a.status === 'running').map((a) => a.accountId);
  for (const [pid, accounts] of await holders(sql)) if (accounts.some((a) => running.includes(a))) return { pid, accounts };
  throw new Error(`${w.name} holds no account`);
}

/** DB-clock time, as a timestamptz text. */
export const dbNow = async (sql: pg.Pool) => (await sql.query<{ t: string }>('select clock_timestamp()::text as t')).rows[0]!.t;

/**
 * Signals the worker (kill or stop) and times how long each of its accounts with deliveries left
 * takes to send again on another worker; accounts not resumed within the bound are violations.
 */
export async function timeTakeover(
  ctx: ScenarioContext,
  sql: pg.Pool,
  w: WorkerProcess,
  signal: (w: WorkerProcess) => Promise<void>,
  limitMs: number,
): Promise<number[]> {
  const victim = await sessionOf(sql, w);
  const { rows: left } = await sql.query<{ account: string }>(
    `select account_id::text as account from public.campaigns where account_id = any($1::uuid[]) and pending_count >= $2`,
    [victim.accounts, MIN_LEFT],
  );
  const at = await dbNow(sql);
  const signalled = signal(w);
  let gone = '';
  while (!gone) {
    const { rows } = await sql.query<{ t: string; holds: boolean }>(
      `select clock_timestamp()::text as t,
         exists (select 1 from pg_locks where pid = $1 and locktype = 'advisory' and classid = $2) as holds`,
      [victim.pid, LOCK_CLASS],
    );
    if (!rows[0]!.holds) gone = rows[0]!.t;
    else await sleep(20);
  }
  await signalled;
  const accounts = left.map((r) => r.account);
  const deadline = Date.now() + limitMs + 10_000;
  for (;;) {
    const { rows } = await sql.query<{ account: string; ms: number }>(
      `select c.account_id::text as account, extract(epoch from min(d.sent_at) - $3::timestamptz) * 1000 as ms
       from public.deliveries d join public.campaigns c on c.id = d.campaign_id
       where c.account_id = any($1::uuid[]) and d.sent_at > $2::timestamptz group by c.account_id`,
      [accounts, gone, at],
    );
    if (rows.length === accounts.length || Date.now() > deadline) {
      const late = rows.filter((r) => r.ms > limitMs).length + accounts.length - rows.length;
      if (late) ctx.violations.push(`${late} of ${accounts.length} accounts of ${w.name} did not resume within ${limitMs} ms`);
      return rows.map((r) => Number(r.ms));
    }
    await sleep(100);
  }
}

export const seconds = (s: Summary) =>
  `p50 ${(s.p50 / 1000).toFixed(1)} s, p95 ${(s.p95 / 1000).toFixed(1)} s, max ${(s.max / 1000).toFixed(1)} s`;

/** A fresh session key, as WORKER_SESSION_KEY takes it. */
export const newSessionKey = () => randomBytes(32).toString('base64');

/**
 * The stand-in's sessions stored sealed in the database, account i under keys[i % keys.length]
 * (several: a rotation under way); returns the workers' environment that holds them all and
 * serves them with no list of their own.
 */
async function storedSessions(ctx: ScenarioContext, keys: string[]): Promise<Record<string, string>> {
  const sealing = keys.map(parseSessionKey);
  const listed = JSON.parse(ctx.telegramEnv.TELEGRAM_ACCOUNTS!) as Array<{ accountId: string; session: string }>;
  await withClient(ctx.db.url, async (c) => {
    for (const [i, a] of listed.entries()) await storeSession(c, sealing[i % keys.length]!, a.accountId, a.session);
  });
  // Undefined: left out of the worker's environment (child_process skips such variables).
  const unset = undefined as unknown as string;
  return { WORKER_SESSION_KEY: keys[0]!, WORKER_SESSION_KEYS_OLD: keys.slice(1).join(',') || unset, TELEGRAM_ACCOUNTS: unset };
}

/** Workers up, accounts spread, campaigns started and sending (`sending`: accounts per worker then); `spawn` starts one more, `env` is theirs. */
export async function sharedFleet(
  ctx: ScenarioContext,
  size: TakeoverSize,
  prefix: string,
  o: { keys?: string[]; workerEnv?: Record<string, string> } = {},
) {
  const sql = connect(ctx);
  const env = { ...o.workerEnv, ...await storedSessions(ctx, o.keys ?? [newSessionKey()]) };
  const spawn = (name: string) => ctx.worker(name, { env });
  const workers: WorkerProcess[] = [];
  for (let i = 0; i < size.workers; i++) workers.push(await spawn(`${prefix}-${i}`));
  ctx.notes.push(`idle accounts per worker: ${await spread(ctx, sql, size.workers)}`);
  await ctx.start();
  await ctx.waitSent(Math.ceil(ctx.accountIds.length * size.targets * 0.1), 60_000);
  const sending = await balance(ctx, sql, size.workers, 30_000);
  ctx.notes.push(`sending, accounts per worker: ${sending.join('/')}`);
  return { sql, workers, spawn, env, sending };
}

/** One of the workers SIGKILLed mid-campaign: the others take its accounts over. */
export function fleetKillScenario(size: TakeoverSize, logDir: string): ScenarioSpec {
  return {
    name: `${size.workers} workers share ${size.accounts} accounts, one SIGKILLed`,
    size,
    logDir,
    async run(ctx) {
      const { sql, workers } = await sharedFleet(ctx, size, 'share');
      const victim = workers[Math.floor(Math.random() * workers.length)]!;
      const times = await timeTakeover(ctx, sql, victim, (w) => w.kill(), size.limitMs);
      ctx.notes.push(`takeover after SIGKILL (${times.length} accounts): ${seconds(summarize(times))}`);
      ctx.notes.push(`after the kill, accounts per worker: ${await spread(ctx, sql, size.workers - 1)}`);
    },
  };
}

/** Every worker restarted in turn (SIGTERM, then a new one): each hands its accounts over. */
export function rollingRestartScenario(size: TakeoverSize, logDir: string): ScenarioSpec {
  return {
    name: `${size.workers} workers share ${size.accounts} accounts, rolling restart`,
    size,
    logDir,
    async run(ctx) {
      const { sql, workers, spawn } = await sharedFleet(ctx, size, 'roll');
      const times: number[] = [];
      let stoppedMs = 0;
      const stop = async (w: WorkerProcess) => {
        const t0 = Date.now();
        await w.stop();
        stoppedMs = Date.now() - t0;
      };
      for (let i = 0; i < workers.length; i++) {
        times.push(...await timeTakeover(ctx, sql, workers[i]!, stop, size.limitMs));
        workers[i] = await spawn(`roll-${i}-again`);
        ctx.notes.push(
          `restart ${i + 1}: exited ${stoppedMs} ms after SIGTERM, then ${await spread(ctx, sql, size.workers)}`,
        );
      }
      ctx.notes.push(`hand-over after SIGTERM (${times.length} accounts): ${seconds(summarize(times))}`);
    },
  };
}
