// One client library (`telegram` = GramJS, or `teleproto`) in a process of its own, driven over IPC
// by clients-bench.ts, so each library's CPU and memory are measured apart. The stand-in speaks
// GramJS's TL layer (198); teleproto is generated from layer 214, where User, Channel, Message and
// messages.sendMessage have other constructors. So requests are built with GramJS's Api classes
// (their bytes are the same whichever library sends them) and teleproto is taught to read the
// layer-198 constructors it lacks; everything below TL (sender, reconnects, pings, sockets) is the
// library's own.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Api } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { fingerprintOf, publicNumbers } from './mtproto/rsa.ts';
import type { StandInEntry } from './mtproto/server.ts';

type Lib = 'telegram' | 'teleproto';
interface Client {
  connect(): Promise<unknown>;
  invoke(r: unknown): Promise<unknown>;
  destroy(): Promise<unknown>;
}

const lib = process.argv[2] as Lib;
const load = createRequire(import.meta.url);
const problems: string[] = [];
process.on('unhandledRejection', (e) => void problems.push(`unhandledRejection: ${String(e)}`));
process.on('uncaughtException', (e) => void problems.push(`uncaughtException: ${String(e)}`));
// Clients are built with LogLevel.NONE: whatever still reaches console.error is the library's own
// doing (teleproto prints every failed ping), counted rather than printed.
let consoleErrors = 0;
console.error = () => void consoleErrors++;

function prepare(entry: StandInEntry): void {
  const { n, e } = publicNumbers(entry.publicKeyPem);
  load(`${lib}/crypto/RSA.js`)._serverKeys.set(fingerprintOf(entry.publicKeyPem).toString(), {
    n: returnBigInt(BigInt(`0x${n.toString('hex')}`).toString()),
    e: Number(BigInt(`0x${e.toString('hex')}`)),
  });
  if (lib === 'telegram') return;
  const ours = load('telegram/tl/AllTLObjects.js').tlobjects as Record<number, unknown>;
  const theirs = load('teleproto/tl/AllTLObjects.js').tlobjects as Record<number, unknown>;
  for (const [id, cls] of Object.entries(ours)) theirs[Number(id)] ??= cls;
}

/** Times at which each client opened a connection (attempts included): how reconnects are seen. */
const connects: number[][] = [];

// Loaded before the first measurement, so a client's share of memory leaves the library's own out.
const { TelegramClient, Logger } = load(lib);
const { StringSession } = load(`${lib}/sessions/index.js`);
const { ConnectionTCPFull } = load(`${lib}/network/index.js`);
const { LogLevel } = load(`${lib}/extensions/Logger.js`);

function newClient(entry: StandInEntry, session: string, index: number): Client {
  connects[index] = [];
  class Aimed extends ConnectionTCPFull {
    constructor(params: { dcId: number; ip: string; port: number }) {
      const dc = entry.dcs.find((d) => d.id === params.dcId) ?? entry.dcs[0];
      super({ ...params, ip: dc?.host ?? params.ip, port: dc?.port ?? params.port });
    }
    connect() {
      connects[index]!.push(Date.now());
      return super.connect();
    }
  }
  // The worker's settings (worker/src/gateway/gramjs-gateway.ts).
  return new TelegramClient(new StringSession(session), entry.apiId, entry.apiHash, {
    connection: Aimed,
    floodSleepThreshold: 0,
    requestRetries: 1,
    connectionRetries: 5,
    autoReconnect: true,
    baseLogger: new Logger(LogLevel.NONE),
  });
}

const clients: Client[] = [];
const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))]);

async function connectAll(entry: StandInEntry, sessions: string[]): Promise<number> {
  prepare(entry);
  const started = Date.now();
  for (let i = 0; i < sessions.length; i += 50) {
    await Promise.all(
      sessions.slice(i, i + 50).map(async (s, j) => {
        const c = newClient(entry, s, i + j);
        clients[i + j] = c;
        await c.connect();
        await c.invoke(new Api.updates.GetState());
      }),
    );
  }
  return Date.now() - started;
}

/** Calls updates.getState on client `i` until one is answered; the time it was answered. */
async function untilAnswered(i: number, maxMs: number): Promise<number | null> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    try {
      await withTimeout(clients[i]!.invoke(new Api.updates.GetState()), 2_000);
      return Date.now();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return null;
}

async function postOnce(i: number, a: { channelId: string; accessHash: string; randomId: string }) {
  const started = Date.now();
  try {
    await clients[i]!.invoke(
      new Api.messages.SendMessage({
        peer: new Api.InputPeerChannel({ channelId: returnBigInt(a.channelId), accessHash: returnBigInt(a.accessHash) }),
        message: `post ${a.randomId}`,
        randomId: returnBigInt(a.randomId),
      }),
    );
    return { ok: true, at: Date.now(), ms: Date.now() - started };
  } catch (err) {
    return { ok: false, at: Date.now(), ms: Date.now() - started, error: String((err as Error).message ?? err) };
  }
}

/** CPU per AES-256-IGE encryption and decryption of a 96-byte message (every MTProto message is both). */
function igeMicros(): number {
  const { IGE } = load(`${lib}/crypto/IGE.js`);
  const [key, iv, message] = [randomBytes(32), randomBytes(32), randomBytes(96)];
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const ige = new IGE(key, iv);
      ige.decryptIge(ige.encryptIge(message));
    }
  };
  run(500); // warm-up: the JIT, not the library, would be measured otherwise
  const before = process.cpuUsage();
  run(5_000);
  const used = process.cpuUsage(before);
  return Math.round((used.user + used.system) / 5_000 * 10) / 10;
}

function usage() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpu: process.cpuUsage(), rssBytes: rssKb * 1024, heapUsed: process.memoryUsage().heapUsed, at: Date.now() };
}

type Args = Record<string, unknown>;
const ops: Record<string, (a: Args) => unknown> = {
  connect: (a) => connectAll(a.entry as StandInEntry, a.sessions as string[]),
  untilAnswered: (a) => untilAnswered(a.i as number, a.maxMs as number),
  post: (a) => postOnce(a.i as number, a as { channelId: string; accessHash: string; randomId: string }),
  connects: (a) => connects[a.i as number] ?? [],
  usage: () => usage(),
  igeMicros: () => igeMicros(),
  problems: () => ({ problems, consoleErrors }),
  gc: () => (globalThis as { gc?: () => void }).gc?.(),
  close: async () => {
    await Promise.all(clients.map((c) => withTimeout(c.destroy(), 5_000).catch(() => {})));
    setImmediate(() => process.exit(0));
  },
};

process.on('message', async (m: { id: number; op: string; args: Args }) => {
  try {
    process.send!({ id: m.id, ok: true, value: await ops[m.op]!(m.args) });
  } catch (err) {
    process.send!({ id: m.id, ok: false, error: String((err as Error).stack ?? err) });
  }
});
process.send!({ ready: lib });
