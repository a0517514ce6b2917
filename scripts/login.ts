// `npm run login`: logs a Telegram account in with GramJS (phone + code + 2FA password, or a
// bot token) and prints its StringSession. Store it as a secret (TELEGRAM_ACCOUNTS); it is the
// account's full access. This is the only interactive Telegram step; the worker never prompts.
import { createInterface } from 'node:readline/promises';
import { stdin, stdout } from 'node:process';
import { parseArgs } from 'node:util';
import { TelegramClient } from 'telegram';
import { StringSession } from 'telegram/sessions/index.js';
import { Logger, LogLevel } from 'telegram/extensions/Logger.js';
import { checkFlags } from './lib/cli.ts';

const USAGE = `Usage: npm run login

Logs a Telegram account in (phone number, the code Telegram sends, the 2FA password; or a bot
token) and prints its StringSession on stdout, the only line there:
  npm run -s login > session.txt
It asks at the terminal, so it needs one. TELEGRAM_API_ID and TELEGRAM_API_HASH in the
environment answer the first two questions. The session is the account's full access: keep it
secret.

Options:
  -h, --help        this help`;

if (!checkFlags('npm run login', USAGE, process.argv.slice(2), (args) => parseArgs({ args, options: {}, strict: true }))) {
  process.exit();
}
if (!stdin.isTTY) {
  console.error(
    'npm run login needs a terminal: it asks for your phone number, the code Telegram sends you and your 2FA password. Run it in an interactive shell (not in CI or with stdin redirected).',
  );
  process.exit(2);
}

const rl = createInterface({ input: stdin, output: stdout });
rl.on('SIGINT', () => {
  console.error('\ncancelled: no session was made');
  process.exit(130);
});
const ask = async (q: string, fallback?: string) => (fallback ?? (await rl.question(q))).trim();

const apiId = Number(await ask('API id (https://my.telegram.org → API development tools): ', process.env.TELEGRAM_API_ID));
const apiHash = await ask('API hash: ', process.env.TELEGRAM_API_HASH);
if (!Number.isInteger(apiId) || apiId <= 0 || !apiHash) {
  console.error('A numeric API id and an API hash are required.');
  process.exit(2);
}
const client = new TelegramClient(new StringSession(''), apiId, apiHash, {
  connectionRetries: 3,
  floodSleepThreshold: 0,
  baseLogger: new Logger(LogLevel.ERROR),
});
const kind = (await ask('Log in as a [u]ser or a [b]ot? ')).toLowerCase();
try {
  if (kind.startsWith('b')) {
    const botAuthToken = await ask('Bot token (from @BotFather): ');
    await client.start({ botAuthToken });
  } else {
    await client.start({
      phoneNumber: () => ask('Phone number (international format, e.g. +4915112345678): '),
      phoneCode: () => ask('Code Telegram sent you: '),
      password: () => ask('2FA password (empty if none): '),
      onError: (err) => {
        console.error(`Telegram: ${err.message}`);
      },
    });
  }
  const me = await client.getMe();
  console.error(`\nLogged in as ${'username' in me && me.username ? `@${me.username}` : me.id.toString()}.`);
  console.error('Keep the session below secret. Put it into TELEGRAM_ACCOUNTS as');
  console.error('  [{"accountId":"<telegram_accounts.id>","session":"<this string>"}]\n');
  // The only line on stdout, so `npm run -s login > session.txt` captures just the session.
  console.log(client.session.save());
} finally {
  rl.close();
  await client.disconnect().catch(() => {});
}
process.exit(0);
