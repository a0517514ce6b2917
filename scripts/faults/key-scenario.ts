// A worker started with a session key that is not the fleet's, beside workers sharing the
// accounts (worker/src/sessions/served.ts): once with a key that opens no stored session, once
// with the new key alone while a rotation is under way (rows still sealed under the old key it was
// not given). Each time it must exit before it takes a lock or a job, naming WORKER_SESSION_KEY,
// while the others keep sending: no session row changed or deleted, no account status changed
// (none taken for revoked), never a third worker counted in the fair share. Then a worker given
// the right keys takes its share and sends; the harness audits that nothing was lost or doubled.
import pg from 'pg';
import { sleep } from '../../contracts/time.ts';
import { SHARED_SESSION_NAME } from '../../worker/src/fleet-share.ts';
import type { WorkerProcess } from '../bench/worker.ts';
import type { ScenarioContext, ScenarioSpec } from './harness.ts';
import { dbNow, MIN_LEFT, newSessionKey, sessionOf, sharedFleet, spread, type TakeoverSize } from './takeover-scenarios.ts';

/** How long a refused worker may take to exit (a cold Node start on a loaded machine). */
const EXIT_WITHIN_MS = 60_000;

interface Refusal {
  name: string;
  env: Record<string, string>;
  /** What its log must say, besides the variable's name. */
  says: string;
}

/** What a refused worker must leave as it was: sealed rows and account statuses. */
async function snapshot(sql: pg.Pool) {
  const { rows } = await sql.query<{ sessions: string; statuses: string }>(
    `select (select string_agg(s::text, ',' order by s.account_id) from private.account_sessions s) as sessions,
       (select string_agg(a.id || ':' || a.status, ',' order by a.id) from public.telegram_accounts a) as statuses`,
  );
  return rows[0]!;
}

const sharedSessions = async (sql: pg.Pool) =>
  (await sql.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = $1`,
    [SHARED_SESSION_NAME],
  )).rows[0]!.n;

/** Starts the worker with `r.env` and checks it exits 1 saying why, changing nothing while the others send. */
async function refused(ctx: ScenarioContext, sql: pg.Pool, size: TakeoverSize, r: Refusal, secrets: string[]) {
  const before = await snapshot(sql);
  const sentBefore = await ctx.sent();
  const w = await ctx.worker(r.name, { env: r.env, waitReady: false });
  let counted = 0;
  const exited = w.service.exited.then((code) => ({ code }));
  const timeout = sleep(EXIT_WITHIN_MS).then(() => null);
  let end: { code: number | string } | null | undefined;
  void Promise.race([exited, timeout]).then((e) => (end = e));
  while (end === undefined) {
    counted = Math.max(counted, await sharedSessions(sql));
    await sleep(50);
  }
  if (!end) {
    ctx.violations.push(`${r.name}: still running ${EXIT_WITHIN_MS} ms after its start`);
    await w.kill();
  }
  const log = w.service.tail();
  const problems = [
    end && end.code !== 1 && `exited ${end.code}, not 1`,
    !log.includes('WORKER_SESSION_KEY') && 'its log does not name WORKER_SESSION_KEY',
    !log.includes(r.says) && `its log does not say "${r.says}"`,
    secrets.some((k) => log.includes(k)) && 'its log shows a key',
    counted > size.workers && `${counted} workers counted in the fair share meanwhile`,
    JSON.stringify(await snapshot(sql)) !== JSON.stringify(before) && 'sealed sessions or account statuses changed',
    !(await ctx.waitSent(sentBefore + 1, 30_000)) && 'the other workers stopped sending',
  ].filter((p): p is string => typeof p === 'string');
  for (const p of problems) ctx.violations.push(`${r.name}: ${p}`);
  ctx.notes.push(`${r.name}: ${end ? `exited ${end.code}` : 'did not exit'}${problems.length ? '' : ', nothing changed'}`);
}

/** The worker's lock session once one of the accounts it locked runs (connecting takes a while on a loaded machine). */
async function running(sql: pg.Pool, w: WorkerProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await sessionOf(sql, w);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** Every account the worker holds with deliveries left sends within the bound (after it took them). */
async function servesShare(ctx: ScenarioContext, sql: pg.Pool, w: WorkerProcess, limitMs: number) {
  const { accounts } = await running(sql, w, limitMs);
  // From here on its accounts' sends are its own (it holds their locks and runs them).
  const from = await dbNow(sql);
  const { rows: left } = await sql.query<{ account: string }>(
    `select account_id::text as account from public.campaigns where account_id = any($1::uuid[]) and pending_count >= $2`,
    [accounts, MIN_LEFT],
  );
  const deadline = Date.now() + limitMs;
  for (;;) {
    const { rows } = await sql.query<{ n: number }>(
      `select count(distinct c.account_id)::int as n from public.deliveries d join public.campaigns c on c.id = d.campaign_id
       where c.account_id = any($1::uuid[]) and d.sent_at > $2::timestamptz`,
      [left.map((r) => r.account), from],
    );
    if (rows[0]!.n === left.length) break;
    if (Date.now() > deadline) {
      ctx.violations.push(
        `${left.length - rows[0]!.n} of ${left.length} accounts of ${w.name} sent nothing within ${limitMs} ms`,
      );
      break;
    }
    await sleep(100);
  }
  ctx.notes.push(`${w.name} holds ${accounts.length} accounts; ${left.length} with deliveries left sent`);
}

export function wrongKeyScenario(size: TakeoverSize, logDir: string): ScenarioSpec {
  return {
    name: `${size.workers} workers share ${size.accounts} accounts, one more started with a wrong key`,
    size,
    logDir,
    async run(ctx) {
      // A rotation under way: half the rows re-sealed under the new key, the others still under the old one.
      const [fresh, old, wrong] = [newSessionKey(), newSessionKey(), newSessionKey()];
      const { sql, spawn, env } = await sharedFleet(ctx, size, 'key', { keys: [fresh!, old!] });
      const secrets = [fresh!, old!, wrong!];
      const unset = undefined as unknown as string;
      await refused(ctx, sql, size, {
        name: 'key-wrong',
        env: { ...env, WORKER_SESSION_KEY: wrong!, WORKER_SESSION_KEYS_OLD: unset },
        says: 'none of the',
      }, secrets);
      await refused(ctx, sql, size, {
        name: 'key-old-dropped',
        env: { ...env, WORKER_SESSION_KEY: fresh!, WORKER_SESSION_KEYS_OLD: unset },
        says: 'sealed under keys this worker lacks',
      }, secrets);
      const right = await spawn('key-right');
      ctx.notes.push(`with the right keys, accounts per worker: ${await spread(ctx, sql, size.workers + 1)}`);
      await servesShare(ctx, sql, right, size.limitMs);
    },
  };
}
