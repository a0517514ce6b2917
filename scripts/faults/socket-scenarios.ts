// Network faults at the socket between the worker's real GramJS client and "Telegram" (the
// stand-in): connections dropped while sends are in flight, every DC half-open (bytes accepted,
// nothing answered: Telegram unreachable), every DC down (connections closed as they arrive)
// for longer than the send timeout, and slow answers. Each must end with every post once and
// every delivery settled: sent, or an unknown outcome reported as such (the audit's retry-failed
// then resends it with its random_id), never failed for a post Telegram stored (the harness).
import { sleep } from '../../contracts/time.ts';
import { withClient } from '../lib/database.ts';
import type { TelegramStandIn } from '../telegram/mtproto/server.ts';
import type { ScenarioContext, ScenarioSize, ScenarioSpec } from './harness.ts';

export interface SocketSizes {
  /** dropConnections() `drops` times during the campaign, sends answered after `inFlightMs`. */
  drops: ScenarioSize & { drops: number; inFlightMs: number };
  /**
   * Every DC half-open for outageMs once afterShare of the messages was sent. Longer than the
   * worker's probe timeout (5 s) and send timeout together, or the probe outlives the fault and
   * the sends it follows count as attempts, as a blip should.
   */
  unreachable: ScenarioSize & { outageMs: number; afterShare: number };
  /** Every DC down for downMs (longer than the worker's send and probe timeouts) once afterShare was sent. */
  down: ScenarioSize & { downMs: number; afterShare: number };
  /** slowShare of the targets answered after slowMs (some beyond the send timeout), the rest after fastMs. */
  slow: ScenarioSize & { slowShare: number; slowMs: number; fastMs: number };
}

const dcIds = (t: TelegramStandIn) => t.dcs.map((d) => d.id);

/** At most this share of the deliveries may spend a second attempt: only the sends in flight when the fault began. */
async function attempts(ctx: ScenarioContext, maxRetriedShare: number): Promise<void> {
  const { rows: [att] } = await withClient(ctx.db.url, (c) =>
    c.query<{ max: number; retried: number; total: number }>(
      `select coalesce(max(attempts), 0)::int as max, count(*) filter (where attempts > 1)::int as retried, count(*)::int as total
       from public.deliveries where campaign_id = any($1::uuid[])`,
      [ctx.campaignIds],
    ));
  ctx.notes.push(`attempts: at most ${att!.max} per delivery, ${att!.retried} of ${att!.total} deliveries with more than one`);
  if (att!.retried > att!.total * maxRetriedShare) {
    ctx.violations.push(`${att!.retried} of ${att!.total} deliveries spent attempts during the fault`);
  }
}

/** Waits for `share` of the messages, then holds the fault for `ms` and notes when sending resumed. */
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
  on(false);
  await sleep(ms);
  const during = (await ctx.sent()) - at;
  on(true);
  const back = Date.now();
  const resumed = await ctx.waitSent(Math.min(total, (await ctx.sent()) + 1), ctx.size.settleTimeoutMs);
  ctx.notes.push(
    `fault at ${at}/${total} sent for ${ms} ms; ${during} recorded sent meanwhile (answers in flight); ` +
      `first send after it ${resumed ? `${Date.now() - back} ms later` : 'never'}`,
  );
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

/** Every DC half-open (Telegram unreachable: nothing answered, nothing refused) for outageMs. */
export function unreachableScenario(size: SocketSizes['unreachable'], logDir: string): ScenarioSpec {
  return {
    name: `telegram unreachable (half-open) ${size.outageMs / 1000} s`,
    size,
    logDir,
    run: (ctx) =>
      outage(
        ctx,
        'half-open-dcs',
        { share: size.afterShare, ms: size.outageMs },
        (up) => dcIds(ctx.telegram!).forEach((id) => ctx.telegram!.setHalfOpen(id, !up)),
      ),
    // Only sends in flight when Telegram went silent may be tried again; the rest wait unspent.
    after: (ctx) => attempts(ctx, 0.1),
  };
}

/** Every DC down (connections refused and closed) for longer than the send timeout. */
export function dcDownScenario(size: SocketSizes['down'], logDir: string): ScenarioSpec {
  return {
    name: `DCs down ${size.downMs / 1000} s`,
    size,
    logDir,
    run: (ctx) =>
      outage(
        ctx,
        'dcs-down',
        { share: size.afterShare, ms: size.downMs },
        (up) => dcIds(ctx.telegram!).forEach((id) => ctx.telegram!.setDown(id, !up)),
      ),
    after: (ctx) => attempts(ctx, 0.1),
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
    unreachableScenario(sizes.unreachable, logDir),
    dcDownScenario(sizes.down, logDir),
    slowAnswersScenario(sizes.slow, logDir),
  ];
}
