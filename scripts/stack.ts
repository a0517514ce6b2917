// `npm start [-- --fresh] [--dir <path>] [--ports auto] [--quiet] [--no-worker] [--telegram …]`: the whole product locally
// (scripts/stack/index.ts), then waits; Ctrl-C or SIGTERM stops everything and keeps the data.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkFlags } from './lib/cli.ts';
import { REPO_ROOT } from './lib/migrate.ts';
import { formatStatus, startStack, TELEGRAM_CHOICES, type TelegramChoice } from './stack/index.ts';
import { handleSignals, runInOwnProcessGroup } from './stack/signals.ts';

/** The flags `npm start` and `npm run demo` share, for their --help. */
export const STACK_FLAGS_HELP = `  --fresh           delete the stack directory first: new database, JWT secret and demo user
  --dir <path>      the stack directory (default .local; or env STACK_DIR)
  --ports auto      free ports instead of 54321-54323, 9464 and 21441-21443 (or env STACK_PORTS=auto)
  --quiet           service logs only to <dir>/logs/*.log, not to the terminal
  --no-worker       start no worker (run \`npm run worker\` yourself, e.g. in a debugger)
  --telegram <t>    stand-in: the Telegram stand-in over MTProto, the worker's GramJS against it
                    (default; see "Telegram stand-in" in the README); simulator: the worker's
                    in-process simulator; real: Telegram with TELEGRAM_SESSION (the default
                    when TELEGRAM_SESSION or TELEGRAM_ACCOUNTS is set). Or env STACK_TELEGRAM
  --no-auto-sign-in
                    stand-in: accounts are not signed in with test numbers; the worker serves
                    TELEGRAM_ACCOUNTS (sessions from \`npm run login -- --stack\`) or the
                    sessions already stored
  --no-auto-channels
                    stand-in: an unknown @username is USERNAME_NOT_OCCUPIED, as on Telegram,
                    instead of a new channel the stack's accounts may post to
  -h, --help        this help`;

const USAGE = `Usage: npm start [-- <options>]

The whole product locally: embedded Postgres, migrations, the Edge Functions, the Telegram
stand-in (a model of Telegram over MTProto; real Telegram when TELEGRAM_SESSION is set in .env),
the worker and the watch page. Prints URLs, keys and a demo token, writes <dir>/stack.json, and
runs until Ctrl-C (the data is kept).

Options:
${STACK_FLAGS_HELP}`;

export interface CliStackArgs {
  dir?: string;
  fresh: boolean;
  ports?: 'auto';
  quiet: boolean;
  worker: boolean;
  telegram?: TelegramChoice;
  autoSignIn: boolean;
  autoChannels: boolean;
}

/** Flags shared by `npm start` and `npm run demo`; env STACK_DIR / STACK_PORTS=auto do the same. */
export function parseStackArgs(argv: string[], extra: Record<string, { type: 'boolean' }> = {}) {
  const { values } = parseArgs({
    args: argv,
    options: {
      fresh: { type: 'boolean', default: false },
      dir: { type: 'string' },
      ports: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      worker: { type: 'boolean', default: true },
      telegram: { type: 'string' },
      'auto-sign-in': { type: 'boolean', default: true },
      'auto-channels': { type: 'boolean', default: true },
      ...extra,
    },
    strict: true,
    allowNegative: true,
  });
  const ports = values.ports ?? process.env.STACK_PORTS;
  if (ports !== undefined && ports !== 'auto') throw new Error(`--ports takes only "auto", got "${ports}"`);
  const telegram = (values.telegram as string | undefined) ?? process.env.STACK_TELEGRAM;
  if (telegram !== undefined && !(TELEGRAM_CHOICES as readonly string[]).includes(telegram)) {
    throw new Error(`--telegram takes ${TELEGRAM_CHOICES.join(', ')}, got "${telegram}"`);
  }
  return {
    values: values as Record<string, unknown>,
    stack: {
      dir: (values.dir as string | undefined) ?? process.env.STACK_DIR,
      fresh: values.fresh as boolean,
      ports: ports as 'auto' | undefined,
      quiet: values.quiet as boolean,
      worker: values.worker as boolean,
      telegram: telegram as TelegramChoice | undefined,
      autoSignIn: values['auto-sign-in'] as boolean,
      autoChannels: values['auto-channels'] as boolean,
    } satisfies CliStackArgs,
  };
}

/** Local settings (TELEGRAM_SESSION, …) from the git-ignored .env; the real environment wins. */
export function loadDotEnv(): void {
  const file = join(REPO_ROOT, '.env');
  if (existsSync(file)) process.loadEnvFile(file);
}

async function main(): Promise<void> {
  loadDotEnv();
  const { stack: args } = parseStackArgs(process.argv.slice(2));
  const log = (s: string) => console.error(`[stack] ${s}`);
  const signals = handleSignals(log);
  const stack = await startStack({ ...args, echoLogs: !args.quiet, log });
  console.log(`\n${formatStatus(stack.info)}\n`);
  console.log(
    `Ready in ${
      stack.timings.total!.toFixed(1)
    } s; wrote ${stack.dir}/stack.json. Ctrl-C stops everything (data is kept; --fresh starts empty).`,
  );
  signals.attach(stack);
  await signals.stopped;
}

if (import.meta.main && checkFlags('npm start', USAGE, process.argv.slice(2), parseStackArgs) && await runInOwnProcessGroup()) {
  try {
    await main();
  } catch (err) {
    console.error(`[stack] failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
