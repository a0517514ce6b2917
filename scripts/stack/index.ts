// The whole product on one machine (docs/architecture.md, the local stack), shared by `npm start`, `npm run demo` and the
// tests: embedded Postgres (persistent) → baseline → `supabase db push` → demo user → functions
// router → the Telegram stand-in and the stack's accounts signed in to it → worker (its GramJS
// stack against the stand-in; or the in-process simulator, or real Telegram) → watch page.
// Resolves once everything answers, then writes <dir>/stack.json.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { freePort, type RunningPostgres, startEmbeddedPostgres } from '../lib/embedded-postgres.ts';
import { asFunctionsRole } from '../lib/database.ts';
import { applyBaseline, asPostgresRole, pushMigrations, REPO_ROOT, withDatabase } from '../lib/migrate.ts';
import { loadOrCreateJwtSecret, mintApiKeys, mintUserToken } from './keys.ts';
import { startApi, startFunctions, startWorker } from './services.ts';
import { type DemoData, seedDemo } from './seed.ts';
import { type StackTelegram, standInWorkerEnv, startStackTelegram } from './telegram.ts';
import { autoSignIn } from './telegram-accounts.ts';
import type { StandInEntry } from '../telegram/mtproto/server.ts';
import { startWebServer } from './web-server.ts';

export const DEFAULT_DIR = join(REPO_ROOT, '.local');
/**
 * Supabase's local ports: API (functions) 54321, DB 54322, Studio 54323 (our watch page);
 * the worker's health/metrics on its own default, 9464; the Telegram stand-in's DCs 1–3 on
 * 21441–21443 (below 32768: GramJS's StringSession keeps the port as a signed 16-bit number).
 */
export const DEFAULT_PORTS = { functions: 54321, db: 54322, web: 54323, worker: 9464, telegram: 21441 } as const;
export type StackPorts = { [K in keyof typeof DEFAULT_PORTS]: number };
/** Supabase's database name; migrations and services connect to it as role postgres. */
const DB_NAME = 'postgres';

/**
 * stand-in: the MTProto stand-in of scripts/telegram/ (default); simulator: the worker's
 * in-process simulator; real: Telegram itself, with TELEGRAM_SESSION (the default when it is set).
 */
export const TELEGRAM_CHOICES = ['stand-in', 'simulator', 'real'] as const;
export type TelegramChoice = (typeof TELEGRAM_CHOICES)[number];

export function defaultTelegram(env: NodeJS.ProcessEnv = process.env): TelegramChoice {
  return env.TELEGRAM_SESSION || env.TELEGRAM_ACCOUNTS ? 'real' : 'stand-in';
}

export interface StackOptions {
  /** Data, secrets, logs and stack.json live here (default .local/). */
  dir?: string;
  /** Delete the directory first: a new cluster, JWT secret and demo user. */
  fresh?: boolean;
  /** Fixed ports (default Supabase's) or 'auto' (free ones: tests, a second stack). */
  ports?: StackPorts | 'auto';
  /** false: no worker (e.g. one runs in another terminal or on another host). Default true. */
  worker?: boolean;
  /** Extra environment for the worker only (e.g. SIMULATOR_CONFIG). */
  workerEnv?: Record<string, string>;
  /** Which Telegram the worker talks to (default: defaultTelegram()). */
  telegram?: TelegramChoice;
  /** Stand-in: sign the stack's accounts in with test numbers and give their sessions to the worker. Default true. */
  autoSignIn?: boolean;
  /** Stand-in: a username nobody has taken becomes a channel the stack's accounts may post to. Default true. */
  autoChannels?: boolean;
  /** Echo service logs to the terminal (they always go to <dir>/logs/). */
  echoLogs?: boolean;
  /** Progress lines ("postgres up in 1.2 s"). */
  log?: (line: string) => void;
}

/** What `supabase status` shows, as written to stack.json (the keys client apps need first). */
export interface StackInfo {
  /** What `supabase status` calls API URL: createClient(apiUrl, anonKey) reaches functions and Realtime. */
  apiUrl: string;
  functionsUrl: string;
  dbUrl: string;
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
  demoUserId: string;
  demoToken: string;
  webUrl: string;
  demoEmail: string;
  demoAccountId: string;
  /** Worker health and metrics; null with --no-worker. */
  workerUrl: string | null;
  /** Which Telegram the worker talks to. */
  telegramMode: TelegramChoice;
  /** True with the in-process simulator (its sent messages are in the database, for the demo's checks). */
  simulator: boolean;
  /** The stand-in, as a GramJS client reaches it (scripts/telegram/client.ts standInClient); null otherwise. */
  telegram: StandInEntry | null;
}

export interface Stack {
  info: StackInfo;
  dir: string;
  /** Seconds per step, for the report and the tests. */
  timings: Record<string, number>;
  /** The stand-in, when this process runs it (not for a stack attached to). */
  telegram?: StackTelegram;
  stop(): Promise<void>;
}

async function assertPortFree(port: number, what: string): Promise<void> {
  const inUse = await new Promise<boolean>((done) => {
    const sock = connect({ port, host: '127.0.0.1' });
    sock.setTimeout(500);
    sock.once('connect', () => {
      sock.destroy();
      done(true);
    });
    sock.once('timeout', () => {
      sock.destroy();
      done(false);
    });
    sock.once('error', () => done(false));
  });
  if (inUse) {
    throw new Error(`port ${port} (${what}) is in use: is another stack running? Stop it, or use --ports auto`);
  }
}

async function resolvePorts(p: StackOptions['ports']): Promise<StackPorts> {
  if (p === 'auto') {
    // Telegram 0: the stand-in picks free ports below 32768 itself.
    return { functions: await freePort(), db: await freePort(), web: await freePort(), worker: await freePort(), telegram: 0 };
  }
  return p ?? { ...DEFAULT_PORTS };
}

/** Makes role postgres own the database, as on a hosted project (migrations create schemas). */
async function ownDatabase(adminUrl: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`alter database ${DB_NAME} owner to postgres`);
  } finally {
    await c.end();
  }
}

/**
 * Refuses to touch a directory whose Postgres is running (another `npm start`, or a demo):
 * --fresh would delete its live data, and a second postmaster cannot share the data dir.
 */
async function assertNotRunning(dir: string): Promise<void> {
  const pidFile = join(dir, 'pgdata', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale pid file of a stopped cluster: Postgres cleans it up itself
  }
  throw new Error(
    `a stack is already running from ${dir} (Postgres pid ${pid}): stop it first (Ctrl-C where \`npm start\` runs), or use another directory: --dir <path> --ports auto`,
  );
}

/** Seconds per named step, logged as they end. */
function stepTimer(log: (line: string) => void) {
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  let last = t0;
  return {
    timings,
    step(name: string): void {
      const now = Date.now();
      timings[name] = (now - last) / 1000;
      last = now;
      log(`${name} (${timings[name]!.toFixed(1)} s)`);
    },
    total(): void {
      timings.total = (Date.now() - t0) / 1000;
    },
  };
}

/** The stack directory, emptied with --fresh, and its ports checked free. */
async function prepare(dir: string, opts: StackOptions): Promise<StackPorts> {
  await assertNotRunning(dir);
  if (opts.fresh) await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'logs'), { recursive: true });
  // stack.json means "up and ready": never leave an old one around while starting.
  await rm(join(dir, 'stack.json'), { force: true });
  const ports = await resolvePorts(opts.ports);
  for (const [what, port] of Object.entries(ports)) {
    if (what === 'db' && process.env.DATABASE_URL) continue; // an external cluster is used instead
    if (what === 'worker' && opts.worker === false) continue;
    if (what === 'telegram') {
      if (port && telegramOf(opts) === 'stand-in') {
        for (const i of [0, 1, 2]) await assertPortFree(port + i, `Telegram DC ${i + 1}`);
      }
      continue;
    }
    await assertPortFree(port, what);
  }
  return ports;
}

/** Embedded Postgres, the local baseline and the migrations; returns the `postgres` role's URL. */
async function startDatabase(
  dir: string,
  port: number,
  stops: Array<() => Promise<void>>,
  step: (name: string) => void,
): Promise<{ adminUrl: string; dbUrl: string }> {
  const firstStart = !existsSync(join(dir, 'pgdata', 'PG_VERSION'));
  const pgServer: RunningPostgres = await startEmbeddedPostgres({ dataDir: dir, port, persistent: true });
  stops.push(() => pgServer.stop());
  step(`postgres ${firstStart ? 'initialised and started' : 'started'} on port ${pgServer.port}`);
  const adminUrl = withDatabase(pgServer.adminUrl, DB_NAME);
  await applyBaseline(adminUrl, DB_NAME); // creates role postgres first
  if (!pgServer.external) await ownDatabase(adminUrl);
  const dbUrl = asPostgresRole(adminUrl);
  step('baseline applied');
  const push = await pushMigrations(dbUrl);
  const applied = (push.match(/Applying migration/g) ?? []).length;
  step(applied ? `supabase db push: ${applied} migration(s) applied` : 'supabase db push: up to date');
  return { adminUrl, dbUrl };
}

/** The environment of the functions and the worker; Telegram secrets are the worker's alone. */
function serviceEnvironment(
  dbUrl: string,
  jwtSecret: string,
  keys: { anonKey: string; serviceRoleKey: string },
  apiPort: number,
): NodeJS.ProcessEnv {
  const withoutTelegram = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TELEGRAM_')));
  return {
    ...withoutTelegram,
    SUPABASE_DB_URL: dbUrl,
    DATABASE_URL: dbUrl,
    SUPABASE_JWT_SECRET: jwtSecret,
    SUPABASE_URL: `http://127.0.0.1:${apiPort}`,
    SUPABASE_ANON_KEY: keys.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
  };
}

interface ServiceContext {
  dir: string;
  ports: StackPorts;
  opts: StackOptions;
  stops: Array<() => Promise<void>>;
  step: (name: string) => void;
}

/** The Deno functions router on a private port behind the API gateway (functions, Realtime, Storage). */
async function startApiServices(
  c: ServiceContext,
  dbUrl: string,
  jwtSecret: string,
  env: NodeJS.ProcessEnv,
): Promise<{ apiUrl: string }> {
  const logsDir = join(c.dir, 'logs');
  // The functions log in as a member of `authenticated` only (scripts/lib/baseline.sql).
  const fnDbUrl = asFunctionsRole(dbUrl);
  const routerPort = await freePort();
  const functions = await startFunctions({
    port: routerPort,
    env: { ...env, SUPABASE_DB_URL: fnDbUrl, DATABASE_URL: fnDbUrl },
    logsDir,
    echo: !!c.opts.echoLogs,
  });
  c.stops.push(functions.stop);
  const api = await startApi({
    port: c.ports.functions,
    functionsOrigin: `http://127.0.0.1:${routerPort}`,
    dbUrl,
    jwtSecret,
    logsDir,
    echo: !!c.opts.echoLogs,
  });
  c.stops.push(api.stop);
  c.step(`API (functions, Realtime, Storage) on port ${c.ports.functions}`);
  return api;
}

const telegramOf = (opts: StackOptions): TelegramChoice => opts.telegram ?? defaultTelegram();

/**
 * The stand-in and, with autoSignIn, every account of the database signed in to it, now and as
 * new ones appear; their sessions are stored sealed in the database, where the worker finds them.
 * Without autoSignIn the worker serves TELEGRAM_ACCOUNTS of the environment when set (sessions
 * from `npm run login -- --stack`), else what the database holds.
 */
async function startTelegramService(
  c: ServiceContext,
  dbUrl: string,
): Promise<{ telegram: StackTelegram; workerEnv: Record<string, string> }> {
  const telegram = await startStackTelegram({
    dir: c.dir,
    port: c.ports.telegram,
    autoChannels: c.opts.autoChannels !== false,
    echo: !!c.opts.echoLogs,
  });
  c.stops.push(telegram.stop);
  c.step(`Telegram stand-in on ${telegram.entry.dcs.map((d) => d.port).join(', ')}`);
  if (c.opts.autoSignIn === false) return { telegram, workerEnv: standInWorkerEnv(telegram, process.env.TELEGRAM_ACCOUNTS) };
  const signIn = await autoSignIn(telegram, { dbUrl, key: telegram.sessionKey.key, log: telegram.log });
  c.stops.push(signIn.stop);
  c.step(`${signIn.accounts} account(s) signed in to the stand-in (${signIn.newSessions} new session(s))`);
  return { telegram, workerEnv: standInWorkerEnv(telegram) };
}

/** The worker (unless --no-worker). */
async function startWorkerService(
  c: ServiceContext,
  env: NodeJS.ProcessEnv,
  accountId: string,
  telegramEnv: Record<string, string>,
): Promise<void> {
  if (c.opts.worker === false) return;
  const mode = telegramOf(c.opts);
  const workerEnv = { ...process.env, ...env, ...telegramEnv, ...c.opts.workerEnv };
  // The stand-in's worker serves the sessions stored in the database unless a list was chosen for it.
  if (mode === 'stand-in' && !telegramEnv.TELEGRAM_ACCOUNTS) delete workerEnv.TELEGRAM_ACCOUNTS;
  const worker = await startWorker({
    env: workerEnv,
    mode,
    logsDir: join(c.dir, 'logs'),
    echo: !!c.opts.echoLogs,
    accountId,
    httpPort: c.ports.worker,
  });
  c.stops.push(worker.stop);
  c.step(`worker (${TELEGRAM_LABELS[mode]})`);
}

const TELEGRAM_LABELS: Record<TelegramChoice, string> = {
  'stand-in': 'GramJS against the Telegram stand-in',
  simulator: 'in-process simulated Telegram',
  real: 'GramJS, real Telegram account',
};

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = resolve(opts.dir ?? DEFAULT_DIR);
  const { timings, step, total } = stepTimer(opts.log ?? (() => {}));
  const ports = await prepare(dir, opts);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    await rm(join(dir, 'stack.json'), { force: true });
    // Reverse start order: worker and functions finish their work before Postgres goes.
    for (const s of stops.reverse()) await s().catch((err: unknown) => (opts.log ?? (() => {}))(`stop: ${String(err)}`));
    stops.length = 0;
  };
  try {
    const { adminUrl, dbUrl } = await startDatabase(dir, ports.db, stops, step);
    const jwtSecret = await loadOrCreateJwtSecret(dir);
    const keys = await mintApiKeys(jwtSecret);
    const demo: DemoData = await seedDemo(adminUrl, dbUrl);
    const demoToken = await mintUserToken(jwtSecret, { id: demo.userId, email: demo.email });
    step('demo user and keys ready');

    const ctx: ServiceContext = { dir, ports, opts, stops, step };
    const env = serviceEnvironment(dbUrl, jwtSecret, keys, ports.functions);
    const api = await startApiServices(ctx, dbUrl, jwtSecret, env);
    const mode = telegramOf(opts);
    const standIn = mode === 'stand-in' ? await startTelegramService(ctx, dbUrl) : undefined;
    await startWorkerService(ctx, env, demo.accountId, standIn?.workerEnv ?? {});
    const web = await startWebServer({
      port: ports.web,
      functionsOrigin: api.apiUrl,
      config: { demoToken, demoUserId: demo.userId, anonKey: keys.anonKey, apiUrl: api.apiUrl },
    });
    stops.push(web.stop);
    step(`watch page on port ${ports.web}`);

    const info: StackInfo = {
      apiUrl: api.apiUrl,
      functionsUrl: `http://127.0.0.1:${ports.functions}/functions/v1`,
      dbUrl,
      ...keys,
      demoUserId: demo.userId,
      demoToken,
      webUrl: web.url,
      demoEmail: demo.email,
      demoAccountId: demo.accountId,
      workerUrl: opts.worker !== false ? `http://127.0.0.1:${ports.worker}` : null,
      telegramMode: mode,
      simulator: mode === 'simulator',
      telegram: standIn?.telegram.entry ?? null,
    };
    await writeFile(join(dir, 'stack.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    total();
    return { info, dir, timings, telegram: standIn?.telegram, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The stack `npm start` already runs from `dir`, if any (its stack.json is there and its
 * functions answer). stop() leaves it running: it is not ours.
 */
export async function attachRunningStack(dir?: string): Promise<Stack | undefined> {
  const d = resolve(dir ?? DEFAULT_DIR);
  let info: StackInfo;
  try {
    info = JSON.parse(await readFile(join(d, 'stack.json'), 'utf8')) as StackInfo;
    await fetch(info.functionsUrl, { signal: AbortSignal.timeout(1000) });
  } catch {
    return undefined;
  }
  return { info, dir: d, timings: { total: 0 }, stop: async () => {} };
}

/** The `supabase status`-like block `npm start` prints (deliberately shows the local secrets). */
export function formatStatus(info: StackInfo): string {
  const rows: Array<[string, string]> = [
    ['API URL', `${info.apiUrl} (functions and Realtime: createClient(apiUrl, anonKey))`],
    ['Functions URL', info.functionsUrl],
    ['Watch page', info.webUrl],
    ['DB URL', info.dbUrl],
    ['Worker health', info.workerUrl ? `${info.workerUrl}/health` : 'no worker (--no-worker)'],
    ['JWT secret', info.jwtSecret],
    ['anon key', info.anonKey],
    ['service_role key', info.serviceRoleKey],
    ['Demo user', `${info.demoUserId} (${info.demoEmail})`],
    ['Demo token', info.demoToken],
    ['Telegram', telegramStatus(info)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padStart(w)}: ${v}`).join('\n');
}

function telegramStatus(info: StackInfo): string {
  if (info.telegram) {
    const dcs = info.telegram.dcs.map((d) => `DC ${d.id} ${d.host}:${d.port}`).join(', ');
    return `stand-in over MTProto (${dcs}; stack.json "telegram"), not Telegram`;
  }
  if (info.telegramMode === 'simulator') return 'simulated in the worker (--telegram simulator)';
  return 'real account (GramJS, TELEGRAM_SESSION)';
}
