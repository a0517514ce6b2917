// `npm run login`: logs a Telegram account in with GramJS (phone + code + 2FA password, or a
// bot token) and prints its StringSession. Store it as a secret (TELEGRAM_ACCOUNTS); it is the
// account's full access. This is the only interactive Telegram step; the worker never prompts.
// With --stack it signs in to the local stack's Telegram stand-in instead (stack.json's
// `telegram`), with a test number whose code it knows, so it needs no terminal then.
// With --api it is a client of the API instead (POST /accounts/{id}/login...): the workers sign
// the account in and keep its session sealed, and nothing secret is printed.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { stdin, stdout } from 'node:process';
import { parseArgs } from 'node:util';
import { TelegramClient } from 'telegram';
import { StringSession } from 'telegram/sessions/index.js';
import { Logger, LogLevel } from 'telegram/extensions/Logger.js';
import type { Login } from '../contracts/api/login.ts';
import { checkFlags } from './lib/cli.ts';
import { DEFAULT_DIR, type StackInfo } from './stack/index.ts';
import { standInClient } from './telegram/client.ts';

const USAGE = `Usage: npm run login [-- --stack [--dir <path>] [--phone <number>]]
       npm run login -- --api <functions URL> --account <id> [--phone <number>]
       npm run login -- --stack --account <id> [--dir <path>] [--phone <number>]

Logs a Telegram account in (phone number, the code Telegram sends, the 2FA password; or a bot
token) and prints its StringSession on stdout, the only line there:
  npm run -s login > session.txt
It asks at the terminal, so it needs one. TELEGRAM_API_ID and TELEGRAM_API_HASH in the
environment answer the first two questions. The session is the account's full access: keep it
secret.

Options:
  --stack           sign in to the Telegram stand-in of the running local stack (its stack.json),
                    not Telegram: a test number 99966XYYYY (X = DC 1-3), whose code (X five
                    times) is entered for you; a new number is signed up. Or env LOGIN_STACK=1
  --dir <path>      the stack directory with --stack (default .local; or env STACK_DIR)
  --phone <number>  the phone number, instead of asking (with --stack: no terminal needed)
  --api <url>       sign in through the API instead (e.g. https://<ref>.supabase.co/functions/v1):
                    the workers sign the account in and store its session sealed; nothing is
                    printed on stdout. The user's access token in env LOGIN_ACCESS_TOKEN
  --account <id>    with --api: the account (POST /accounts makes one). With --stack: sign it in
                    through the stack's API as its demo user (the stack's worker performs it;
                    a test number's code is entered for you)
  -h, --help        this help`;

const options = {
  stack: { type: 'boolean' },
  dir: { type: 'string' },
  phone: { type: 'string' },
  api: { type: 'string' },
  account: { type: 'string' },
} as const;
const argv = process.argv.slice(2);
if (!checkFlags('npm run login', USAGE, argv, (args) => parseArgs({ args, options, strict: true }))) process.exit();
const { values } = parseArgs({ args: argv, options, strict: true });
const toStack = values.stack === true || process.env.LOGIN_STACK === '1';

const rl = stdin.isTTY ? createInterface({ input: stdin, output: stdout }) : undefined;
rl?.on('SIGINT', () => {
  console.error('\ncancelled: no session was made');
  process.exit(130);
});
/** The answer given up front, or the terminal's; without a terminal a missing answer is an error. */
async function ask(q: string, given?: string): Promise<string> {
  if (given !== undefined) return given.trim();
  if (!rl) {
    console.error(
      `npm run login needs a terminal to ask "${q.trim()}": run it in an interactive shell (not in CI or with stdin redirected)${
        toStack ? ', or give --phone' : ''
      }.`,
    );
    process.exit(2);
  }
  return (await rl.question(q)).trim();
}

/** A client for Telegram itself, with the app's API id and hash. */
async function telegramClient(): Promise<TelegramClient> {
  const apiId = Number(await ask('API id (https://my.telegram.org → API development tools): ', process.env.TELEGRAM_API_ID));
  const apiHash = await ask('API hash: ', process.env.TELEGRAM_API_HASH);
  if (!Number.isInteger(apiId) || apiId <= 0 || !apiHash) {
    console.error('A numeric API id and an API hash are required.');
    process.exit(2);
  }
  return new TelegramClient(new StringSession(''), apiId, apiHash, {
    connectionRetries: 3,
    floodSleepThreshold: 0,
    baseLogger: new Logger(LogLevel.ERROR),
  });
}

/** The running stack's stack.json, when it runs the Telegram stand-in (else an exit with the reason). */
function stackInfo(dir: string): StackInfo & { telegram: NonNullable<StackInfo['telegram']> } {
  const file = join(dir, 'stack.json');
  let info: StackInfo;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
  } catch {
    console.error(`no ${file}: start the stack first (npm start), or give its --dir`);
    process.exit(2);
  }
  if (!info.telegram) {
    console.error(`the stack in ${dir} does not run the Telegram stand-in (Telegram: ${info.telegramMode ?? 'simulator'})`);
    process.exit(2);
  }
  return info as StackInfo & { telegram: NonNullable<StackInfo['telegram']> };
}

/** The code of a stand-in test number 99966XYYYY: its DC digit X five times. */
const testCode = (phone: string) => phone.replace(/\D/g, '')[5]!.repeat(5);

/** Signs in to the stand-in of the stack in `dir` with a test number. */
async function standInLogin(dir: string): Promise<TelegramClient> {
  const info = stackInfo(dir);
  const phone = (await ask('Test phone number (99966XYYYY, X = DC 1-3): ', values.phone)).replace(/\D/g, '');
  const dc = Number(phone[5]);
  const client = standInClient(info.telegram, { dcId: dc, params: { floodSleepThreshold: 0 } });
  await client.start({
    phoneNumber: phone,
    phoneCode: async () => testCode(phone),
    firstAndLastNames: async () => ['Test user', ''],
    password: () => ask('2FA password: '),
    onError: async (err) => {
      throw err;
    },
  });
  return client;
}

async function telegramLogin(): Promise<TelegramClient> {
  const client = await telegramClient();
  const kind = (await ask('Log in as a [u]ser or a [b]ot? ')).toLowerCase();
  if (kind.startsWith('b')) {
    await client.start({ botAuthToken: await ask('Bot token (from @BotFather): ') });
    return client;
  }
  await client.start({
    phoneNumber: () => ask('Phone number (international format, e.g. +4915112345678): ', values.phone),
    phoneCode: () => ask('Code Telegram sent you: '),
    password: () => ask('2FA password (empty if none): '),
    onError: (err) => {
      console.error(`Telegram: ${err.message}`);
    },
  });
  return client;
}

/** Each step through the API: the account's login state, or Telegram's refusal (asked again when it is a wrong code or password). */
async function apiLogin(url: string, accountId: string | undefined, stack?: StackInfo): Promise<void> {
  const token = process.env.LOGIN_ACCESS_TOKEN ?? stack?.demoToken;
  if (!token || !accountId) {
    console.error('--api needs --account <id> and the user’s access token in env LOGIN_ACCESS_TOKEN');
    process.exit(2);
  }
  const step = async (path: string, body: Record<string, string>): Promise<Login> => {
    const res = await fetch(`${url.replace(/\/$/, '')}/accounts/${accountId}/login${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as Login & { error?: { message?: string; details?: { telegramError?: string } } };
    if (res.ok) return answer as Login;
    const again = ['PHONE_CODE_INVALID', 'PASSWORD_HASH_INVALID'].includes(answer.error?.details?.telegramError ?? '');
    console.error(`${res.status}: ${answer.error?.message ?? 'request failed'}`);
    if (!again) process.exit(1);
    return { state: path === '/code' ? 'code_sent' : 'password_needed' } as Login;
  };
  const bot = !values.phone && (await ask('Log in as a [u]ser or a [b]ot? ')).toLowerCase().startsWith('b');
  let login = bot
    ? await step('', { botToken: await ask('Bot token (from @BotFather): ') })
    : await step('', { phone: await ask('Phone number (international format, e.g. +4915112345678): ', values.phone) });
  while (login.state !== 'signed_in') {
    if (login.state === 'code_sent') {
      const asked = `Code Telegram sent (${login.codeType ?? 'code'}): `;
      login = await step('/code', { code: await ask(asked, stack && values.phone ? testCode(values.phone) : undefined) });
    } else if (login.state === 'password_needed') {
      login = await step('/password', { password: await ask(`2FA password${login.hint ? ` (hint: ${login.hint})` : ''}: `) });
    } else throw new Error(`the sign-in is ${login.state}${login.error ? ` (${login.error.code})` : ''}`);
  }
  console.error(`Signed in as ${login.identity}: the workers serve the account within seconds; no session was printed.`);
}

// The API of the stack too: --stack with --account signs that account in through the stack's functions and worker.
const viaStack = toStack && values.account !== undefined && !values.api;
if (values.api || viaStack) {
  const stack = viaStack ? stackInfo(resolve(values.dir ?? process.env.STACK_DIR ?? DEFAULT_DIR)) : undefined;
  await apiLogin(values.api ?? stack!.functionsUrl, values.account, stack).catch((err: unknown) => {
    console.error(`login failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
  rl?.close();
  process.exit();
}

let client: TelegramClient | undefined;
try {
  client = toStack ? await standInLogin(resolve(values.dir ?? process.env.STACK_DIR ?? DEFAULT_DIR)) : await telegramLogin();
  const me = await client.getMe();
  console.error(`\nLogged in as ${'username' in me && me.username ? `@${me.username}` : me.id.toString()}.`);
  console.error('Keep the session below secret. Put it into TELEGRAM_ACCOUNTS as');
  console.error('  [{"accountId":"<telegram_accounts.id>","session":"<this string>"}]\n');
  // The only line on stdout, so `npm run -s login > session.txt` captures just the session.
  console.log(client.session.save());
} catch (err) {
  console.error(`login failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  rl?.close();
  await client?.destroy().catch(() => {});
}
process.exit();
