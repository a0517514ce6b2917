// `npm run demo [-- --json] [--flood] [stack flags]`: the local stack, then a 100-target campaign
// created and started through the function URLs, a live progress bar, a summary against the
// theoretical minimum, and a clean exit (the stack stops; its data is kept). If `npm start`
// already runs from the same directory, the demo uses that stack and leaves it running.
// With --json the last stdout line is { targets, sent, failed, duplicates, seconds, theoreticalSeconds }.
// Telegram is the stand-in (scripts/telegram/), reached by the worker's GramJS over MTProto; the
// duplicates are counted from what the stand-in holds, read back through MTProto.
// --flood: Telegram answers FLOOD_WAIT_3 after 40 sends, to show the pause and resume.
// --media: a picture uploaded with supabase-js Storage goes with the message, and a test send to
// the account's Saved Messages comes first (found again in what Telegram holds).
import { join } from 'node:path';
import { inspect } from 'node:util';
import cliProgress from 'cli-progress';
import type { Campaign } from '../contracts/api/campaigns.ts';
import { checkFlags } from './lib/cli.ts';
import { parseStackArgs, STACK_FLAGS_HELP } from './stack.ts';
import { apiFor } from './stack/api.ts';
import { createDemoCampaign, followCampaign } from './stack/campaign.ts';
import { simulatorSaved, standInSaved, testToSavedMessages, uploadDemoPicture } from './stack/demo-media.ts';
import { attachRunningStack, type Stack, startStack } from './stack/index.ts';
import { handleSignals, runInOwnProcessGroup } from './stack/signals.ts';
import { simulatorDuplicates } from './stack/simulator.ts';
import { loadOrCreateSessionKey } from './stack/telegram.ts';
import { standInPosts, type StoredAccount } from './stack/telegram-accounts.ts';
import type { TelegramModel } from './telegram/model/model.ts';

const TARGETS = 100;
/** 20 messages/s: a realistic paced rate for one account, and a demo of about 5 seconds. */
const RATE_PER_MINUTE = 1200;
const FLOOD = { sends: 40, seconds: 3 };

export interface DemoSummary {
  targets: number;
  sent: number;
  failed: number;
  duplicates: number;
  seconds: number;
  theoreticalSeconds: number;
}

const seconds = (from: string | null, to: string | null) => from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : NaN;

interface ProgressView {
  update(c: Campaign): void;
  stop(): void;
}

function statusText(c: Campaign): string {
  if (c.state !== 'paused') return c.state;
  return c.pauseReason === 'flood_wait' && c.resumeAt
    ? `FLOOD_WAIT, resumes in ${Math.max(0, (Date.parse(c.resumeAt) - Date.now()) / 1000).toFixed(1)} s`
    : `paused (${c.pauseReason})`;
}

/**
 * A live bar on a terminal; state changes (flood pauses, resumes) as lines above it. Without a
 * terminal (CI, pipes) the same as plain lines: state changes and every 10%.
 */
function progressView(total: number): ProgressView {
  const t0 = Date.now();
  const done = (c: Campaign) => c.counts.sent + c.counts.failed + c.counts.cancelled;
  // Current pace over the last 2 s (an average since the start would hide a pause's end).
  const samples: Array<{ at: number; sent: number }> = [];
  const rate = (c: Campaign) => {
    const now = Date.now();
    samples.push({ at: now, sent: c.counts.sent });
    while (samples.length > 2 && now - samples[1]!.at >= 2000) samples.shift();
    const first = samples[0]!;
    return now > first.at ? ((1000 * (c.counts.sent - first.sent)) / (now - first.at)).toFixed(1) : '0.0';
  };
  const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`;
  let lastState = '';
  const stateChanged = (c: Campaign) => {
    const key = `${c.state}/${c.pauseReason}`;
    const changed = key !== lastState && lastState !== '';
    lastState = key;
    return changed;
  };

  if (!process.stderr.isTTY) {
    let lastDecile = -1;
    return {
      update(c) {
        const decile = Math.floor((10 * done(c)) / total);
        if (stateChanged(c) || decile !== lastDecile) {
          lastDecile = decile;
          console.error(
            `${stamp()}  ${done(c)}/${total}  sent ${c.counts.sent} failed ${c.counts.failed}  ${rate(c)} msg/s  ${
              statusText(c)
            }`,
          );
        }
      },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar({
    format:
      ' {bar} {percentage}% | {value}/{total} | sent {sent} failed {failed} | {rate} msg/s | ETA {eta_formatted} | {status}',
    hideCursor: true,
    barsize: 30,
    fps: 10,
    etaBuffer: 20,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  const bar = multi.create(total, 0, { sent: 0, failed: 0, rate: '0.0', status: 'starting' });
  return {
    update(c) {
      if (stateChanged(c)) multi.log(`${stamp()}  campaign ${statusText(c)} at ${done(c)}/${total}\n`);
      bar.update(done(c), { sent: c.counts.sent, failed: c.counts.failed, rate: rate(c), status: statusText(c) });
    },
    stop() {
      multi.stop();
    },
  };
}

const USAGE = `Usage: npm run demo [-- <options>]

A ${TARGETS}-target campaign created and started through the function URLs, with a live progress
bar and a summary against the theoretical minimum. Uses the stack \`npm start\` runs from the
same directory, or starts one and stops it at the end; never real Telegram (made-up channels):
the Telegram stand-in by default, or --telegram simulator.

Options:
  --json            end with one JSON line on stdout: { targets, sent, failed, duplicates,
                    seconds, theoreticalSeconds }
  --flood           a stack of its own whose Telegram answers FLOOD_WAIT_${FLOOD.seconds} after ${FLOOD.sends} sends,
                    to show the pause and the automatic resume
  --media           a photo post: a picture uploaded with supabase-js Storage, a test send to
                    the account's Saved Messages first, then the campaign
${STACK_FLAGS_HELP}`;

const parseDemoArgs = (argv: string[]) =>
  parseStackArgs(argv, { json: { type: 'boolean' }, flood: { type: 'boolean' }, media: { type: 'boolean' } });

/** The stand-in answers FLOOD_WAIT once, after FLOOD.sends sends (the first rule lets them through, then goes). */
function floodAfterSends(model: TelegramModel): void {
  model.faults.add({ method: 'messages.sendMessage', times: FLOOD.sends });
  model.faults.add({ method: 'messages.sendMessage', error: { code: 420, type: `FLOOD_WAIT_${FLOOD.seconds}` }, times: 1 });
}

/** The running stack of the same directory, or a new one; never real Telegram: made-up channels must not reach an account. */
async function demoStack(
  args: ReturnType<typeof parseDemoArgs>['stack'],
  o: { flood: boolean; say: (s: string) => void },
): Promise<{ stack: Stack; attached: boolean }> {
  if (args.telegram === 'real') throw new Error('the demo posts to 100 made-up channels: it never runs on real Telegram');
  const attached = args.fresh || o.flood ? undefined : await attachRunningStack(args.dir);
  if (attached && attached.info.telegramMode === 'real') {
    throw new Error(
      'the running stack sends through a real Telegram account; the demo posts to 100 made-up channels, so it runs only on the stand-in or the simulator (stop `npm start`, or use --dir/--ports auto for a separate demo stack)',
    );
  }
  if (attached) {
    o.say(`Using the stack that is already running from ${attached.dir} (npm start).`);
    return { stack: attached, attached: true };
  }
  o.say('Starting the local stack (Postgres, migrations, functions, Telegram stand-in, worker)…');
  const telegram = args.telegram ?? 'stand-in';
  const stack = await startStack({
    ...args,
    telegram,
    echoLogs: false,
    log: (s) => o.say(`  ${s}`),
    workerEnv: o.flood && telegram === 'simulator' ? { SIMULATOR_CONFIG: JSON.stringify({ floodAfter: FLOOD }) } : {},
  });
  if (o.flood && stack.telegram) floodAfterSends(stack.telegram.standIn.model);
  return { stack, attached: false };
}

/** The demo account on the stack's stand-in, with the key its session is sealed with. */
async function demoAccount(stack: Stack): Promise<StoredAccount> {
  const { info } = stack;
  const { key } = await loadOrCreateSessionKey(join(stack.dir, 'telegram'));
  return { entry: info.telegram!, key, dbUrl: info.dbUrl, accountId: info.demoAccountId };
}

/** Posts beyond one per target, from what Telegram (stand-in or simulator) holds. */
async function duplicatesOf(stack: Stack, peers: string[], channelIds: string[]): Promise<number> {
  const { info } = stack;
  if (info.simulator) return simulatorDuplicates(info.dbUrl, peers);
  const posts = await standInPosts({ ...(await demoAccount(stack)), channelIds });
  return posts.reduce((dups, inChannel) => dups + Math.max(0, inChannel.length - 1), 0);
}

async function main(): Promise<void> {
  const { values, stack: args } = parseDemoArgs(process.argv.slice(2));
  const json = values.json === true;
  const flood = values.flood === true;
  const say = (s: string) => console.error(s);
  const signals = handleSignals(say);
  void signals.stopped.then(() => process.exit(130)); // interrupted: the stack is down, stop here
  const { stack, attached } = await demoStack(args, { flood, say });
  signals.attach(stack);
  let summary: DemoSummary;
  try {
    say(`Stack ready in ${stack.timings.total!.toFixed(1)} s (${stack.info.functionsUrl}).`);
    const api = apiFor(stack.info);
    const tCreate = Date.now();
    const media = values.media === true ? await uploadDemoPicture(stack.info) : undefined;
    if (media) say(`Uploaded a picture to Storage: campaign-media/${media.path}`);
    const demo = await createDemoCampaign(api, { targets: TARGETS, ratePerMinute: RATE_PER_MINUTE, media });
    say(
      `Created ${TARGETS} channels and campaign ${demo.campaign.id} in ${
        ((Date.now() - tCreate) / 1000).toFixed(1)
      } s; starting it at ${RATE_PER_MINUTE / 60} msg/s.`,
    );
    if (media) {
      const saved = stack.info.simulator
        ? (id: number) => simulatorSaved(stack.info.dbUrl, id)
        : async (id: number) => standInSaved(await demoAccount(stack), id);
      const t = await testToSavedMessages(api, demo.campaign.id, saved);
      say(
        `Test send: message ${t.test.telegramMessageId} (${t.media}) in the account's Saved Messages; the campaign is still a ${demo.campaign.state}.`,
      );
    }
    // One account paces all its campaigns together: others still running slow this one down.
    const others = (await api.call<{ items: Campaign[] }>('GET', '/campaigns?state=running&limit=100')).items;
    if (others.length) {
      say(`Note: ${others.length} earlier campaign(s) still running share the account's pace (--fresh starts empty).`);
    }
    const view = progressView(TARGETS);
    await api.call('POST', `/campaigns/${demo.campaign.id}/start`);
    let final: Campaign;
    try {
      final = await followCampaign(api, demo.campaign.id, (c) => view.update(c), { timeoutMs: 5 * 60_000 });
    } finally {
      view.stop();
    }
    const duplicates = await duplicatesOf(stack, demo.peers, demo.channelIds);
    summary = {
      targets: TARGETS,
      sent: final.counts.sent,
      failed: final.counts.failed,
      duplicates,
      seconds: Number(seconds(final.startedAt, final.completedAt).toFixed(3)),
      theoreticalSeconds: TARGETS / (RATE_PER_MINUTE / 60),
    };
    const ratio = summary.seconds / summary.theoreticalSeconds;
    say([
      '',
      `Campaign ${final.state}: ${summary.sent} sent, ${summary.failed} failed, ${summary.duplicates} duplicates of ${summary.targets} targets.`,
      `Took ${summary.seconds.toFixed(2)} s; the theoretical minimum at ${RATE_PER_MINUTE / 60} msg/s is ${
        summary.theoreticalSeconds.toFixed(2)
      } s (×${ratio.toFixed(2)})${flood ? `, plus the ${FLOOD.seconds} s FLOOD_WAIT` : ''}.`,
      attached
        ? `Watch page: ${stack.info.webUrl}`
        : `Run \`npm start\` to keep the stack up and watch campaigns at ${stack.info.webUrl}.`,
    ].join('\n'));
    if (final.state !== 'completed' || duplicates > 0) process.exitCode = 1;
  } finally {
    await stack.stop();
  }
  if (json) console.log(JSON.stringify(summary));
}

if (checkFlags('npm run demo', USAGE, process.argv.slice(2), parseDemoArgs) && await runInOwnProcessGroup()) {
  try {
    await main();
  } catch (err) {
    console.error(`demo failed: ${err instanceof Error && err.message ? err.message : inspect(err)}`);
    process.exitCode = 1;
  }
}
