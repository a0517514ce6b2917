// Network faults at the socket between the worker's real GramJS client and "Telegram" (the
// stand-in): connections dropped while sends are in flight, every DC half-open (bytes accepted,
// nothing answered: Telegram unreachable), every DC down (connections closed as they arrive)
// for longer than the send timeout, and slow answers. Each must end with every post once and
// every delivery settled: sent, or an unknown outcome reported as such (the audit's retry-failed
// then resends it with its random_id), never failed for a post Telegram stored (the harness).
import { sleep } from '../../contracts/time.ts';
import type { TelegramStandIn } from '../telegram/mtproto/server.ts';
import { FAULT_WORKER_ENV, type ScenarioContext, type ScenarioSize, type ScenarioSpec } from './harness.ts';

export interface SocketSizes {
  /** dropConnections() `drops` times during the campaign, sends answered after `inFlightMs`. */
  drops: ScenarioSize & { drops: number; inFlightMs: number };
  /** Every DC half-open for outageMs (longer than NOTICE_MS) once afterShare of the messages was sent. */
  unreachable: ScenarioSize & { outageMs: number; afterShare: number };
  /** Every DC down for downMs (longer than NOTICE_MS) once afterShare of the messages was sent. */
  down: ScenarioSize & { outageMs: number; afterShare: number };
  /** slowShare of the targets answered after slowMs (some beyond the send timeout), the rest after fastMs. */
  slow: ScenarioSize & { slowShare: number; slowMs: number; fastMs: number };
}

const dcIds = (t: TelegramStandIn) => t.dcs.map((d) => d.id);

/** Attempts spent so far by the scenario's deliveries. */
async function spentAttempts(ctx: ScenarioContext): Promise<number> {
  const [r] = await ctx.query<{ n: number }>(
    'select coalesce(sum(attempts), 0)::int as n from public.deliveries where campaign_id = any($1::uuid[])',
    [ctx.campaignIds],
  );
  return r!.n;
}

/**
 * When the worker has had time to see that Telegram does not answer: a send timeout, then its
 * probe's timeout (5 s), with a second to spare.
 */
const NOTICE_MS = Number(FAULT_WORKER_ENV.SEND_TIMEOUT_MS) + 5_000 + 1_000;

/**
 * Waits for `share` of the messages, holds the fault for `ms` and notes when sending resumed.
 * The sends in flight when the fault began (and any the loaded machine timed out just before)
 * may spend an attempt; once the worker has noticed (NOTICE_MS), none may: deliveries wait.
 */
async function outage(
  ctx: ScenarioContext,
  name: string,
  fault: { share: number; ms: number },
  on: (up: boolean) => void,
): Promise<void> {
  const { share, ms } = fault;
  const total = ctx.size.targets * (ctx.size.accounts ?? 1);
  await ctx.worker(name);
  await ctx.start();
  if (!(await ctx.waitSent(Math.floor(total * share), 30_000))) throw new Error('the campaign never reached the fault');
  const at = await ctx.sent();
  const before = await spentAttempts(ctx);
  on(false);
  const from = Date.now();
  await sleep(NOTICE_MS);
  const noticed = await spentAttempts(ctx);
  await sleep(ms - NOTICE_MS);
  const after = await spentAttempts(ctx);
  const during = (await ctx.sent()) - at;
  on(true);
  const back = Date.now();
  // Telegram dates posts in whole seconds: a post dated a second that lies wholly within the fault was stored during it.
  const inside = (await ctx.posts()).filter((p) => p.at >= from + 1000 && p.at + 1000 <= back).length;
  if (inside) ctx.violations.push(`${inside} posts stored while every DC was unreachable`);
  const resumed = await ctx.waitSent(Math.min(total, (await ctx.sent()) + 1), ctx.size.settleTimeoutMs);
  ctx.notes.push(
    `fault at ${at}/${total} sent for ${ms} ms; ${during} recorded sent meanwhile (answered before it, recorded late); ${inside} posts stored during it; ` +
      `attempts spent: ${noticed - before} in its first ${NOTICE_MS} ms, ${after - noticed} after; ` +
      `first send after it ${resumed ? `${Date.now() - back} ms later` : 'never'}`,
  );
  if (after > noticed) {
    ctx.violations.push(`${after - noticed} attempts spent after the worker could know Telegram was unreachable`);
  }
}

/** Connections of every DC dropped `drops` times while sends are in flight (each answered after inFlightMs). */
export function droppedConnectionsScenario(size: SocketSizes['drops'], logDir: string): ScenarioSpec {
  const total = size.targets * (size.accounts ?? 1);
  return {
    name: `connections dropped ×${size.drops} mid-send`,
    size,
    logDir,
    setUp: (ctx) => void ctx.telegram!.model.faults.add({ method: 'messages.sendMessage', delayMs: size.inFlightMs }),
    async run(ctx) {
      await ctx.worker('drops');
      await ctx.start();
      for (let i = 1; i <= size.drops; i++) {
        await ctx.waitSent(Math.floor((total * i) / (size.drops + 1)), 30_000);
        await sleep(Math.random() * size.inFlightMs);
        const open = dcIds(ctx.telegram!).reduce((n, id) => n + ctx.telegram!.connections(id), 0);
        ctx.telegram!.dropConnections();
        ctx.notes.push(`drop ${i} at ${await ctx.sent()}/${total} sent (${open} connections)`);
      }
    },
  };
}

/**
 * The outages of every DC: half-open (Telegram unreachable: nothing answered, nothing refused),
 * or down (connections refused and closed).
 */
const OUTAGES = {
  'half-open': {
    name: (seconds: number) => `telegram unreachable (half-open) ${seconds} s`,
    set: (t: TelegramStandIn, dc: number, on: boolean) => t.setHalfOpen(dc, on),
  },
  down: {
    name: (seconds: number) => `DCs down ${seconds} s`,
    set: (t: TelegramStandIn, dc: number, on: boolean) => t.setDown(dc, on),
  },
};

/** Every DC half-open or down for outageMs, longer than the worker's send and probe timeouts. */
export function outageScenario(kind: keyof typeof OUTAGES, size: SocketSizes['down'], logDir: string): ScenarioSpec {
  const o = OUTAGES[kind];
  return {
    name: o.name(size.outageMs / 1000),
    size,
    logDir,
    run: (ctx) =>
      outage(
        ctx,
        `dcs-${kind}`,
        { share: size.afterShare, ms: size.outageMs },
        (up) => dcIds(ctx.telegram!).forEach((id) => o.set(ctx.telegram!, id, !up)),
      ),
  };
}

/** slowShare of the targets answered after slowMs (beyond the send timeout), the others after fastMs. */
export function slowAnswersScenario(size: SocketSizes['slow'], logDir: string): ScenarioSpec {
  return {
    name: `slow answers (${size.fastMs} ms, ${size.slowMs} ms for ${size.slowShare * 100} %)`,
    size,
    logDir,
    setUp(ctx) {
      const slow = ctx.owner.peers.filter(() => Math.random() < size.slowShare);
      for (const peer of slow) {
        ctx.telegram!.model.faults.add({ method: 'messages.sendMessage', target: peer.slice(1), delayMs: size.slowMs, times: 1 });
      }
      ctx.telegram!.model.faults.add({ method: 'messages.sendMessage', delayMs: size.fastMs });
      ctx.notes.push(`${slow.length} of ${ctx.owner.peers.length} targets answered after ${size.slowMs} ms the first time`);
    },
    async run(ctx) {
      await ctx.worker('slow');
      await ctx.start();
    },
  };
}

export function socketScenarios(sizes: SocketSizes, logDir: string): ScenarioSpec[] {
  return [
    droppedConnectionsScenario(sizes.drops, logDir),
    outageScenario('half-open', sizes.unreachable, logDir),
    outageScenario('down', sizes.down, logDir),
    slowAnswersScenario(sizes.slow, logDir),
  ];
}
