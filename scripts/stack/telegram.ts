// The Telegram stand-in (scripts/telegram/) as a service of the local stack, in the stack's own
// process like the Realtime and Storage stand-ins: the stack reaches its model directly for the
// local conveniences and for saving its state, and stops it after the worker. Its RSA key and its
// state (telegram-state.ts) live in <dir>/telegram/, so sessions and channels survive a restart.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from '../telegram/model/config.ts';
import { TelegramModel } from '../telegram/model/model.ts';
import { AuthKeys } from '../telegram/mtproto/keys.ts';
import { type StandInEntry, startStandIn, type TelegramStandIn } from '../telegram/mtproto/server.ts';
import { parseSessionKey, type SessionKey } from '../../worker/src/sessions/vault.ts';
import { logSink } from './process.ts';
import { restoreState, saveState } from './telegram-state.ts';

/** Test numbers 99966XYYYY belong to DC X (core.telegram.org/api/auth), so DCs 1–3 serve every one. */
export const STAND_IN_DCS = [1, 2, 3];
const SAVE_EVERY_MS = 5_000;

/**
 * The stack's departure from the model's defaults: a resolution budget large enough for the
 * demo's 100 new channels at once (Telegram asks for about one contacts.resolveUsername every
 * 3 s). STACK_TELEGRAM_CONFIG (JSON, model/config.ts's windows) overrides it, e.g.
 * {"resolve":{"limit":5,"ms":15000}} for the model's own default.
 */
const STACK_MODEL_CONFIG: Partial<ModelConfig> = { resolve: { limit: 500, ms: 15_000 } };

export interface StackTelegram {
  standIn: TelegramStandIn;
  /** What a GramJS client needs (stack.json's `telegram`). */
  entry: StandInEntry;
  /** The auth keys of each DC, kept across restarts. */
  keys: Map<number, AuthKeys>;
  /** <dir>/telegram: RSA key, state, the stack accounts' phone numbers, the session key. */
  home: string;
  /** The worker's WORKER_SESSION_KEY: sessions are stored in the database sealed under it. */
  sessionKey: { text: string; key: SessionKey };
  /** A line to <dir>/logs/telegram.log. */
  log(line: string): void;
  save(): Promise<void>;
  stop(): Promise<void>;
}

async function loadOrCreateKey(file: string): Promise<string> {
  if (existsSync(file)) return await readFile(file, 'utf8');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await writeFile(file, pem, { mode: 0o600 });
  return pem;
}

/** The stack's WORKER_SESSION_KEY (32 random bytes, base64), made once and kept like the JWT secret. */
export async function loadOrCreateSessionKey(home: string): Promise<{ text: string; key: SessionKey }> {
  const file = join(home, 'session-key');
  if (!existsSync(file)) await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const text = (await readFile(file, 'utf8')).trim();
  return { text, key: parseSessionKey(text) };
}

function modelConfig(): Partial<ModelConfig> {
  const raw = process.env.STACK_TELEGRAM_CONFIG;
  if (!raw) return STACK_MODEL_CONFIG;
  try {
    return { ...STACK_MODEL_CONFIG, ...(JSON.parse(raw) as Partial<ModelConfig>) };
  } catch {
    throw new Error('STACK_TELEGRAM_CONFIG must be JSON, e.g. {"resolve":{"limit":5,"ms":15000}}');
  }
}

/**
 * Starts the stand-in on `port`, `port`+1, `port`+2 (0: free ports in 20000–32767, which fit
 * GramJS's signed 16-bit StringSession port), with the state of the previous run.
 */
export async function startStackTelegram(
  o: { dir: string; port: number; autoChannels: boolean; echo: boolean },
): Promise<StackTelegram> {
  const home = join(o.dir, 'telegram');
  await mkdir(home, { recursive: true, mode: 0o700 });
  const sink = logSink('telegram', join(o.dir, 'logs', 'telegram.log'), o.echo);
  const log = (line: string) => sink.write(`${line}\n`);
  const model = new TelegramModel({ config: modelConfig(), autoChannels: o.autoChannels });
  const keys = new Map(STAND_IN_DCS.map((dc) => [dc, new AuthKeys()]));
  const stateFile = join(home, 'state.v8');
  try {
    if (await restoreState(stateFile, model, keys)) log(`state restored from ${stateFile}`);
  } catch (err) {
    throw new Error(`${stateFile} cannot be read (${String(err)}): delete it, or start with --fresh`);
  }
  const standIn = await startStandIn({
    model,
    dcIds: STAND_IN_DCS,
    ports: o.port ? STAND_IN_DCS.map((_, i) => o.port + i) : undefined,
    privateKeyPem: await loadOrCreateKey(join(home, 'server-key.pem')),
    authKeys: (dc) => keys.get(dc)!,
    log,
  });
  const save = () => saveState(stateFile, model, keys);
  const timer = setInterval(() => void save().catch((err: unknown) => log(`state not saved: ${String(err)}`)), SAVE_EVERY_MS);
  timer.unref();
  const { dcs, publicKeyPem, apiId, apiHash } = standIn;
  log(`listening: ${dcs.map((d) => `DC ${d.id} ${d.host}:${d.port}`).join(', ')}`);
  return {
    standIn,
    entry: { dcs, publicKeyPem, apiId, apiHash },
    keys,
    home,
    sessionKey: await loadOrCreateSessionKey(home),
    log,
    save,
    async stop() {
      clearInterval(timer);
      await standIn.close();
      await save();
      sink.end();
    },
  };
}

/**
 * The worker's environment for the stand-in: its real GramJS stack, aimed at the stand-in's DCs,
 * serving the sessions stored in the database (or the list given, e.g. TELEGRAM_ACCOUNTS of the
 * environment with --no-auto-sign-in).
 */
export function standInWorkerEnv(t: StackTelegram, accounts?: string): Record<string, string> {
  return {
    TELEGRAM_MODE: 'gramjs',
    TELEGRAM_API_ID: String(t.entry.apiId),
    TELEGRAM_API_HASH: t.entry.apiHash,
    TELEGRAM_SERVER: JSON.stringify({ dcs: t.entry.dcs, publicKeyPem: t.entry.publicKeyPem }),
    WORKER_SESSION_KEY: t.sessionKey.text,
    ...(accounts ? { TELEGRAM_ACCOUNTS: accounts } : {}),
  };
}
