// `npm run accounts -- import | rotate-key`: moves the sessions of TELEGRAM_ACCOUNTS into the
// database sealed under WORKER_SESSION_KEY, and re-seals every stored session under a new key
// while workers run. Sessions and keys are secrets: nothing here prints either.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { z } from 'zod';
import { ConfigError, parseEnv, SessionKeysEnv, TelegramAccountsText } from '../worker/src/config.ts';
import { readSealedSessions, resealSession, type StoredSession, storeSession } from '../worker/src/sessions/store.ts';
import { openSealed, parseSessionKey, seal, SessionKeyError } from '../worker/src/sessions/vault.ts';
import { checkFlags } from './lib/cli.ts';

const USAGE = `Usage: npm run accounts -- <command>

Commands:
  import      stores the session of each account of TELEGRAM_ACCOUNTS in the database, sealed
              (AES-256-GCM) under WORKER_SESSION_KEY. Idempotent: an account whose stored
              session already is that session is left as it is. Every account must exist in
              telegram_accounts, or nothing is stored.
  rotate-key  re-seals every stored session under WORKER_SESSION_KEY (the new key), opening the
              others with WORKER_SESSION_KEYS_OLD (comma-separated). Safe while workers run:
              give them WORKER_SESSION_KEY=<new> and WORKER_SESSION_KEYS_OLD=<old> first, and they
              keep serving every account; drop the old key once this reports nothing left.
              Exits 1 when a row opens with none of the keys (it is left as it was).

Environment: DATABASE_URL (as for the worker), WORKER_SESSION_KEY (base64, 32 bytes: make one
with \`openssl rand -base64 32\`), WORKER_SESSION_KEYS_OLD, and for import TELEGRAM_ACCOUNTS
(JSON [{"accountId","session"}]). Sessions and keys are never printed.

Options:
  -h, --help  this help`;

const COMMANDS = ['import', 'rotate-key'] as const;
const parse = (args: string[]) => parseArgs({ args, options: {}, allowPositionals: true, strict: true });
const argv = process.argv.slice(2);
if (!checkFlags('npm run accounts', USAGE, argv, parse)) process.exit();
const [command, ...extra] = parse(argv).positionals;
if (!COMMANDS.includes(command as (typeof COMMANDS)[number]) || extra.length) {
  console.error(
    `npm run accounts: ${
      command ? `unknown command '${[command, ...extra].join(' ')}'` : 'a command is required'
    } (import or rotate-key)\nRun \`npm run accounts -- --help\` for the commands.`,
  );
  process.exit(2);
}

const Env = z.object({
  DATABASE_URL: z.string({ error: 'DATABASE_URL is required' }).min(1),
  ...SessionKeysEnv.shape,
  WORKER_SESSION_KEY: z.string({ error: 'required: the base64 32-byte key the workers hold' }).pipe(
    SessionKeysEnv.shape.WORKER_SESSION_KEY.unwrap(),
  ),
  TELEGRAM_ACCOUNTS: command === 'import'
    ? z.string({ error: 'required for import: JSON [{"accountId","session"}]' }).pipe(TelegramAccountsText)
    : TelegramAccountsText.optional(),
});
type Env = z.infer<typeof Env>;

let env: Env;
try {
  env = parseEnv(Env, process.env, `configuration of npm run accounts -- ${command}`);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(2);
}
const key = parseSessionKey(env.WORKER_SESSION_KEY);
const keys = [key, ...(env.WORKER_SESSION_KEYS_OLD ?? []).map(parseSessionKey)];

const db = new pg.Client({ connectionString: env.DATABASE_URL, application_name: 'tg-accounts' });
await db.connect();
try {
  process.exitCode = command === 'import' ? await importSessions(env.TELEGRAM_ACCOUNTS!) : await rotateKey();
} finally {
  await db.end();
}

/** Stores every listed session sealed, in one transaction; an unknown account stores none. */
async function importSessions(accounts: NonNullable<Env['TELEGRAM_ACCOUNTS']>): Promise<number> {
  const missingSession = accounts.filter((a) => !a.session).map((a) => a.accountId);
  const ids = accounts.map((a) => a.accountId);
  const { rows } = await db.query('select id::text from public.telegram_accounts where id = any ($1::uuid[])', [ids]);
  const missing = ids.filter((id) => !rows.some((r) => r.id === id));
  if (missingSession.length || missing.length) {
    if (missingSession.length) {
      console.error(`TELEGRAM_ACCOUNTS: no session for ${missingSession.join(', ')} (run \`npm run login\`)`);
    }
    if (missing.length) console.error(`TELEGRAM_ACCOUNTS: not in telegram_accounts: ${missing.join(', ')} (create them first)`);
    console.error('nothing was stored');
    return 2;
  }
  const stored = new Map((await readSealedSessions(db, ids)).map((s) => [s.accountId, s]));
  const changed = accounts.filter((a) => !sameSession(stored.get(a.accountId), a.session!));
  await db.query('begin');
  for (const a of changed) await storeSession(db, key, a.accountId, a.session!);
  await db.query('commit');
  console.log(
    `imported ${changed.length} session(s) sealed under key ${key.id}; ${accounts.length - changed.length} already stored`,
  );
  return 0;
}

/** The stored row is this session under the current key (a row under an old key is re-stored). */
function sameSession(row: StoredSession | undefined, session: string): boolean {
  if (!row || row.session.keyId !== key.id) return false;
  return openSealed([key], row.session) === session;
}

/**
 * Re-seals each row not under the new key, each only if unchanged since it was read; rows that
 * changed meanwhile are read again (a few passes), so a session stored during the rotation is
 * re-sealed too, or is already under the new key.
 */
async function rotateKey(): Promise<number> {
  let resealed = 0;
  const unopened = new Map<string, string>();
  for (let pass = 0; pass < 5; pass++) {
    const old = (await readSealedSessions(db, null)).filter((s) => s.session.keyId !== key.id && !unopened.has(s.accountId));
    if (!old.length) break;
    for (const row of old) {
      const reason = await reseal(row);
      if (reason === null) resealed++;
      else if (reason) unopened.set(row.accountId, reason);
    }
  }
  const left = (await readSealedSessions(db, null)).filter((s) => s.session.keyId !== key.id).length;
  console.log(`re-sealed ${resealed} session(s) under key ${key.id}; ${left} left under other keys`);
  for (const [id, reason] of unopened) console.error(`account ${id}: ${reason}; left as it was`);
  return unopened.size || left ? 1 : 0;
}

/** null: re-sealed; '': changed since it was read (read again); otherwise why it did not open. */
async function reseal(row: StoredSession): Promise<string | null> {
  let session: string;
  let proxy: string | null;
  try {
    session = openSealed(keys, row.session);
    proxy = row.proxy && openSealed(keys, row.proxy);
  } catch (err) {
    if (err instanceof SessionKeyError) return err.message;
    throw err;
  }
  const done = await resealSession(db, row, seal(key, session), proxy === null ? null : seal(key, proxy));
  return done ? null : '';
}
