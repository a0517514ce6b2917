// `npm run login`: logs a Telegram account in with GramJS (phone + code + 2FA password, or a
// bot token) and prints its StringSession. Store it as a secret (TELEGRAM_ACCOUNTS); it is the
// account's full access. This is the only interactive Telegram step; the worker never prompts.
import { createInterface } from 'node:readline/promises';
import { stdin, stdout } from 'node:process';
import { TelegramClient } from 'telegram';
import { StringSession } from 'telegram/sessions/index.js';
import { Logger, LogLevel } from 'telegram/extensions/Logger.js';

const rl = createInterface({ input: stdin, output: stdout });
const ask = async (q: string, fallback?: string) => (fallback ?? (await rl.question(q))).trim();

const apiId = Number(await ask('API id (https://my.telegram.org → API development tools): ', process.env.TELEGRAM_API_ID));
const apiHash = await ask('API hash: ', process.env.TELEGRAM_API_HASH);
if (!Number.isInteger(apiId) || apiId <= 0 || !apiHash) {
  console.error('A numeric API id and an API hash are required.');
  process.exit(2);
}
const client = new TelegramClient(new StringSession(''), apiId, apiHash, {
  connectionRetries: 3, floodSleepThreshold: 0, baseLogger: new Logger(LogLevel.ERROR),
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
      onError: (err) => { console.error(`Telegram: ${err.message}`); },
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
