// The client library, chosen by measurement: GramJS (`telegram`) and `teleproto` against the
// Telegram stand-in on loopback, each in a child process of its own (clients-bench-child.ts), with
// the worker's client settings. `--help` lists the flags; `--json` prints the result as the last line.
import { type ChildProcess, fork } from 'node:child_process';
import { Api } from 'telegram';
import { standInClient } from './client.ts';
import { startStandIn, type TelegramStandIn } from './mtproto/server.ts';

const USAGE = `usage: npm run bench:clients -- [flags]
  --lib <gramjs|teleproto|both>  libraries to measure (default both)
  --clients <list>               idle signed-in clients per point, e.g. 100,1000 (default 100,1000; 0 skips)
  --outage <s>                   length of the DC outage (default 5)
  --no-half-open                 skip the half-open scenario (it takes GramJS's ping cycle, 10-40 s)
  --idle-seconds <s>             CPU window over idle clients, after a warm-up of 5 s (default 10)
  --json                         progress on stderr, the result as JSON on the last stdout line
  --help                         this text`;

const DC = 2;
type LibName = 'gramjs' | 'teleproto';
const PACKAGE: Record<LibName, string> = { gramjs: 'telegram', teleproto: 'teleproto' };

export interface Options {
  libs: LibName[];
  clients: number[];
  outageS: number;
  halfOpen: boolean;
  idleS: number;
  json: boolean;
}

function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = { libs: ['gramjs', 'teleproto'], clients: [100, 1000], outageS: 5, halfOpen: true, idleS: 10, json: false };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  const count = (v: string, flag: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: not a whole number: ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return 'help';
    else if (a === '--json') o.json = true;
    else if (a === '--no-half-open') o.halfOpen = false;
    else if (a === '--lib') {
      const v = value(i++, a);
      if (v !== 'gramjs' && v !== 'teleproto' && v !== 'both') throw new Error(`--lib: gramjs, teleproto or both, not ${v}`);
      o.libs = v === 'both' ? ['gramjs', 'teleproto'] : [v];
    } else if (a === '--clients') o.clients = value(i++, a).split(',').map((v) => count(v, a)).filter((n) => n > 0);
    else if (a === '--outage') o.outageS = Number(value(i++, a));
    else if (a === '--idle-seconds') o.idleS = count(value(i++, a), a);
    else throw new Error(`unknown flag ${a}\n${USAGE}`);
  }
  if (!(o.outageS > 0)) throw new Error('--outage: a positive number of seconds');
  return o;
}

/** A child process running one library; `call` runs one of its ops (see clients-bench-child.ts). */
interface Child {
  call<T>(op: string, args?: Record<string, unknown>): Promise<T>;
  proc: ChildProcess;
}

async function spawnChild(lib: LibName): Promise<Child> {
  const proc = fork(new URL('./clients-bench-child.ts', import.meta.url), [PACKAGE[lib]], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`the ${lib} child exited (${code}) before it was ready`)));
    proc.once('message', () => resolve());
  });
  proc.on('message', (m: { id?: number; ok: boolean; value: never; error: string }) => {
    const w = m.id === undefined ? undefined : waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id!);
    m.ok ? w.resolve(m.value) : w.reject(new Error(m.error));
  });
  proc.on('exit', () => waiting.forEach((w) => w.reject(new Error(`the ${lib} child exited`))));
  return {
    proc,
    call: <T>(op: string, args: Record<string, unknown> = {}) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve: resolve as (v: never) => void, reject });
        proc.send({ id, op, args });
      }),
  };
}

async function closeChild(child: Child): Promise<void> {
  const exited = new Promise((resolve) => child.proc.once('exit', resolve));
  await child.call('close').catch(() => {});
  await Promise.race([exited, sleep(10_000)]);
  if (child.proc.exitCode === null) child.proc.kill();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Setup {
  standIn: TelegramStandIn;
  sessions: string[];
  channel: { channelId: string; accessHash: string };
  ownerId: bigint;
}

/** Signs up `n` test accounts (99966 2 YYYY) through MTProto with GramJS; their sessions serve both libraries. */
async function signInAccounts(standIn: TelegramStandIn, n: number, progress: (s: string) => void): Promise<string[]> {
  const sessions: string[] = [];
  const started = Date.now();
  for (let i = 0; i < n; i += 20) {
    sessions.push(...await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => signIn(standIn, i + j))));
    if ((i / 20) % 10 === 0) progress(`signed in ${sessions.length}/${n} (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  return sessions;
}

async function signIn(standIn: TelegramStandIn, k: number): Promise<string> {
  const client = standInClient(standIn, { dcId: DC });
  const phone = `99966${DC}${String(k).padStart(4, '0')}`;
  await client.start({
    phoneNumber: phone,
    phoneCode: async () => String(DC).repeat(5),
    firstAndLastNames: async () => [`Bench ${k}`, ''],
    onError: async (err) => {
      throw err;
    },
  });
  const session = (client.session.save() as unknown) as string;
  await client.destroy();
  return session;
}

async function setUp(accounts: number, progress: (s: string) => void): Promise<Setup> {
  const standIn = await startStandIn();
  const sessions = await signInAccounts(standIn, accounts, progress);
  const owner = standInClient(standIn, { dcId: DC, session: sessions[0] });
  await owner.connect();
  const res = await owner.invoke(new Api.channels.CreateChannel({ title: 'bench', about: '', broadcast: true }));
  const ch = (res as Api.Updates).chats[0] as Api.Channel;
  const me = await owner.getMe();
  await owner.destroy();
  return {
    standIn,
    sessions,
    channel: { channelId: ch.id.toString(), accessHash: (ch.accessHash ?? 0).toString() },
    ownerId: BigInt(me.id.toString()),
  };
}

/** How many messages of the bench channel carry this random id's text: the posts the stand-in stored. */
async function postsOf(s: Setup, randomId: string): Promise<number> {
  const viewer = s.standIn.model.accounts.byUserId(s.ownerId)!;
  const ch = s.standIn.model.channel(viewer, BigInt(s.channel.channelId), BigInt(s.channel.accessHash));
  const all = await s.standIn.model.history(viewer, ch, 0, 100);
  return all.filter((m) => m.text === `post ${randomId}`).length;
}

let randomIds = BigInt(Date.now()) * 1000n;
const newRandomId = () => String(randomIds++);

/**
 * A post held at the model until `fault` has struck the socket, so its answer is lost: the
 * library must resend it with the same random_id, and the stand-in must store it once.
 */
async function postThrough(s: Setup, child: Child, fault: () => void) {
  let arrived!: () => void;
  let release!: () => void;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const held = new Promise<void>((resolve) => (release = resolve));
  s.standIn.model.faults.add({ method: 'messages.sendMessage', times: 1, onMatch: () => arrived(), until: held });
  const randomId = newRandomId();
  const result = child.call<{ ok: boolean; at: number; error?: string }>('post', { i: 0, ...s.channel, randomId });
  await arrival;
  const at = Date.now();
  fault();
  await sleep(50);
  release();
  return { randomId, at, result };
}

async function dropScenario(s: Setup, child: Child) {
  const { randomId, at, result } = await postThrough(s, child, () => s.standIn.dropConnections(DC));
  const answered = await child.call<number | null>('untilAnswered', { i: 0, maxMs: 60_000 });
  const post = await result;
  return {
    callAnsweredAfterMs: answered === null ? null : answered - at,
    inFlightPost: { ok: post.ok, error: post.error, afterMs: post.at - at, stored: await postsOf(s, randomId) },
  };
}

async function outageScenario(s: Setup, child: Child, outageS: number) {
  const { randomId, at, result } = await postThrough(s, child, () => s.standIn.setDown(DC, true));
  await sleep(outageS * 1000);
  s.standIn.setDown(DC, false);
  const up = Date.now();
  // No call is made until the held post settles: whether the library comes back by itself.
  const post = await Promise.race([result, sleep(120_000).then(() => null)]);
  const answered = await child.call<number | null>('untilAnswered', { i: 0, maxMs: 60_000 });
  const attempts = (await child.call<number[]>('connects', { i: 0 })).filter((t) => t >= at);
  return {
    outageS,
    connectAttemptsDuringOutage: attempts.filter((t) => t < up).length,
    firstConnectAfterUpMs: attempts.find((t) => t >= up) === undefined ? null : attempts.find((t) => t >= up)! - up,
    inFlightPost: post === null
      ? { settled: false, stored: await postsOf(s, randomId) }
      : { settled: true, ok: post.ok, error: post.error, afterUpMs: post.at - up, stored: await postsOf(s, randomId) },
    callAnsweredAfterUpMs: answered === null ? null : answered - up,
  };
}

async function halfOpenScenario(s: Setup, child: Child) {
  const before = (await child.call<number[]>('connects', { i: 0 })).length;
  s.standIn.setHalfOpen(DC, true);
  const at = Date.now();
  let noticedAt: number | null = null;
  while (noticedAt === null && Date.now() - at < 90_000) {
    await sleep(250);
    noticedAt = (await child.call<number[]>('connects', { i: 0 }))[before] ?? null;
  }
  s.standIn.setHalfOpen(DC, false);
  const healed = Date.now();
  const answered = await child.call<number | null>('untilAnswered', { i: 0, maxMs: 90_000 });
  return {
    noticedAfterMs: noticedAt === null ? null : noticedAt - at,
    callAnsweredAfterHealedMs: answered === null ? null : answered - healed,
  };
}

/** Unhandled rejections and uncaught exceptions in the child, and lines the library wrote to console.error. */
interface Problems {
  problems: string[];
  consoleErrors: number;
}

interface Usage {
  cpu: { user: number; system: number };
  rssBytes: number;
  at: number;
}

async function idlePoint(s: Setup, lib: LibName, n: number, idleS: number) {
  const child = await spawnChild(lib);
  try {
    await child.call('gc');
    const base = await child.call<Usage>('usage');
    const connectMs = await child.call<number>('connect', { entry: entryOf(s.standIn), sessions: s.sessions.slice(0, n) });
    await sleep(5_000);
    await child.call('gc');
    const u0 = await child.call<Usage>('usage');
    const standIn0 = process.cpuUsage();
    await sleep(idleS * 1000);
    const u1 = await child.call<Usage>('usage');
    const standInCpu = process.cpuUsage(standIn0);
    const wall = u1.at - u0.at;
    const pct = (c: { user: number; system: number }) => Math.round(((c.user + c.system) / 1000 / wall) * 1000) / 10;
    return {
      clients: n,
      connectMs,
      cpuPctOfCore: pct({ user: u1.cpu.user - u0.cpu.user, system: u1.cpu.system - u0.cpu.system }),
      standInCpuPctOfCore: pct(standInCpu),
      rssBaseMb: mb(base.rssBytes),
      rssMb: mb(u1.rssBytes),
      rssPerClientKb: Math.round((u1.rssBytes - base.rssBytes) / n / 1024),
      ...await child.call<Problems>('problems'),
    };
  } finally {
    await closeChild(child);
  }
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024 * 10) / 10;
const entryOf = (t: TelegramStandIn) => ({ dcs: t.dcs, publicKeyPem: t.publicKeyPem, apiId: t.apiId, apiHash: t.apiHash });

async function measureLib(s: Setup, lib: LibName, o: Options, progress: (s: string) => void) {
  const faults = await faultScenarios(s, lib, o, progress);
  const idle = [];
  for (const n of o.clients) {
    progress(`${lib}: ${n} idle clients`);
    idle.push(await idlePoint(s, lib, n, o.idleS));
  }
  return { lib, version: libVersion(lib), ...faults, idle };
}

async function faultScenarios(s: Setup, lib: LibName, o: Options, progress: (s: string) => void) {
  const child = await spawnChild(lib);
  try {
    await child.call('connect', { entry: entryOf(s.standIn), sessions: s.sessions.slice(0, 1) });
    progress(`${lib}: dropped socket`);
    const drop = await dropScenario(s, child);
    progress(`${lib}: ${o.outageS} s outage`);
    const outage = await outageScenario(s, child, o.outageS);
    progress(o.halfOpen ? `${lib}: half-open connection` : `${lib}: half-open skipped`);
    const halfOpen = o.halfOpen ? await halfOpenScenario(s, child) : null;
    const igeMicrosPerMessage = await child.call<number>('igeMicros');
    return { drop, outage, halfOpen, igeMicrosPerMessage, ...await child.call<Problems>('problems') };
  } finally {
    await closeChild(child);
  }
}

function libVersion(lib: LibName): string {
  return (process.getBuiltinModule('node:module').createRequire(import.meta.url)(`${PACKAGE[lib]}/package.json`) as {
    version: string;
  }).version;
}

export type LibResult = Awaited<ReturnType<typeof measureLib>>;

function table(results: LibResult[]): string {
  const rows: [string, (r: LibResult) => unknown][] = [
    ['drop: call answered after (ms)', (r) => r.drop.callAnsweredAfterMs],
    ['drop: in-flight post ok / stored', (r) => `${r.drop.inFlightPost.ok} / ${r.drop.inFlightPost.stored}`],
    ['outage: connect attempts while down', (r) => r.outage.connectAttemptsDuringOutage],
    ['outage: first connect after up (ms)', (r) => r.outage.firstConnectAfterUpMs],
    ['outage: held post settled / ok / stored', (r) => {
      const p = r.outage.inFlightPost;
      return p ? `${p.settled} / ${'ok' in p ? p.ok : '-'} / ${p.stored}` : '';
    }],
    ['outage: call answered after up (ms)', (r) => r.outage.callAnsweredAfterUpMs],
    ['half-open: noticed after (ms)', (r) => r.halfOpen?.noticedAfterMs ?? '-'],
    ['half-open: call answered after healed (ms)', (r) => r.halfOpen?.callAnsweredAfterHealedMs ?? '-'],
    ['unhandled rejections / exceptions', (r) => r.problems.length],
    ['console.error lines at LogLevel.NONE', (r) => r.consoleErrors],
    ['AES-IGE CPU per 96-byte message, encrypted and decrypted (µs)', (r) => r.igeMicrosPerMessage],
    ...(results[0]?.idle ?? []).flatMap((p, k): [string, (r: LibResult) => unknown][] => [
      [`${p.clients} idle: CPU % of a core (stand-in)`, (r) => `${r.idle[k]?.cpuPctOfCore} (${r.idle[k]?.standInCpuPctOfCore})`],
      [`${p.clients} idle: RSS MB, KB per client`, (r) => `${r.idle[k]?.rssMb}, ${r.idle[k]?.rssPerClientKb}`],
    ]),
  ];
  const head = `| | ${results.map((r) => `${r.lib} ${r.version}`).join(' | ')} |`;
  return [
    head,
    `|---|${results.map(() => '---').join('|')}|`,
    ...rows.map(([name, f]) => `| ${name} | ${results.map(f).join(' | ')} |`),
  ]
    .join('\n');
}

async function main(): Promise<void> {
  let o: Options | 'help';
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  if (o === 'help') return console.log(USAGE);
  const progress = (line: string) => (o.json ? console.error : console.log)(line);
  const s = await setUp(Math.max(1, ...o.clients), progress);
  try {
    const results = [];
    for (const lib of o.libs) results.push(await measureLib(s, lib, o, progress));
    progress(table(results));
    if (o.json) console.log(JSON.stringify({ options: o, results }));
  } finally {
    await s.standIn.close();
  }
}

await main();
// GramJS's clients destroyed in this process (the sign-ins) leave timers behind for minutes.
process.exit(0);
