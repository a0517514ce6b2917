// The four measurements of `npm run bench`, each on its own cloned database with its own
// account, against the real worker and the simulator (zero latency unless stated).
import pg from 'pg';
import { Api } from 'telegram';
import { createLogger } from '../../worker/src/logger.ts';
import { MemoryMessageStore } from '../../worker/src/simulator/store.ts';
import { TelegramSimulator } from '../../worker/src/simulator/telegram-simulator.ts';
import { type RunningWorker, startWorker } from '../../worker/src/worker.ts';
import type { AppDatabase, BenchCluster } from './cluster.ts';
import { counterMismatches } from './checks.ts';
import { postgresCpuMs, selfCpuMs } from './cpu.ts';
import { observeProgress, visibilityLatencies } from './progress.ts';
import { campaignAction, createCampaign, type Owner, seedOwner, waitSettled } from './seed.ts';
import { percentile, ratePerSecond } from './stats.ts';
import { withClient } from '../lib/database.ts';

export interface Sizes {
  ceilingDeliveries: number;
  pacingCampaigns: number;
  pacingTargets: number;
  pacingPerSecond: number;
  pickupTrials: number;
}

export const FULL_SIZES: Sizes = {
  ceilingDeliveries: 5000,
  pacingCampaigns: 5,
  pacingTargets: 500,
  pacingPerSecond: 50,
  pickupTrials: 25,
};
export const SHORT_SIZES: Sizes = {
  ceilingDeliveries: 300,
  pacingCampaigns: 3,
  pacingTargets: 20,
  pacingPerSecond: 30,
  pickupTrials: 5,
};

/** Telegram's own per-account limit in the simulator, far above any pace we ask for. */
const UNLIMITED_SIM = { accountPerSecond: 1_000_000, latencyMs: [0, 0] as [number, number] };

interface Posted {
  peer: string;
  at: number;
}

/** The simulator, counting the peer resolutions it answers (each costs Telegram a call, the worker a write). */
class CountingSimulator extends TelegramSimulator {
  resolutions = 0;
  override handle(accountId: string, request: Api.AnyRequest): Promise<unknown> {
    if (request instanceof Api.contacts.ResolveUsername || request instanceof Api.messages.CheckChatInvite) this.resolutions++;
    return super.handle(accountId, request);
  }
}

interface Bench {
  db: AppDatabase;
  owner: Owner;
  worker: RunningWorker;
  simulator: CountingSimulator;
  /** Messages Telegram posted (first sends; dedup answers excluded), in order. */
  posted(): Posted[];
  done(): Promise<void>;
}

/**
 * A database with an owner, `channels` channels, an account at `perMinute`, and the real worker
 * in this process with an in-memory simulator (zero latency): nothing but our pipeline costs
 * time, and the worker's CPU is this process's (the harness only polls now and then).
 */
async function setUp(cluster: BenchCluster, name: string, channels: number, perMinute: number): Promise<Bench> {
  const db = await cluster.createDatabase(`tg_bench_${name}`);
  const owner = await withClient(db.url, (c) => seedOwner(db, c, { channels, ratePerMinute: perMinute, tag: name }));
  const simulator = new CountingSimulator(UNLIMITED_SIM, new MemoryMessageStore());
  // BENCH_LOG_LEVEL=debug shows the worker's per-batch lines (on stderr: stdout is the report).
  const level = process.env.BENCH_LOG_LEVEL ?? 'warn';
  const worker = await startWorker({
    databaseUrl: db.url,
    mode: 'simulator',
    accounts: [{ accountId: owner.accountId }],
    httpPort: null,
  }, { simulator, logger: createLogger(level, process.stderr) });
  // Ready means the account holds its lock and works its queue (or gave up trying).
  const deadline = Date.now() + 30_000;
  while (worker.accounts().some((a) => a.status === 'waiting_lock' || a.status === 'starting') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    db,
    owner,
    worker,
    simulator,
    posted: () => simulator.sends.filter((x) => !x.duplicate).map((x) => ({ peer: x.peer, at: x.at })),
    async done() {
      await worker.stop().catch(() => {});
      await simulator.close();
      await db.drop().catch(() => {});
    },
  };
}

async function exactCounters(db: AppDatabase, ids: string[]): Promise<string[]> {
  return await withClient(db.url, (c) => counterMismatches(c, ids));
}

export interface CeilingRun {
  seconds: number;
  perSecond: number;
  workerCpuMsPerDelivery: number;
  postgresCpuMsPerDelivery: number | null;
  /** Peers the account resolved during the run: every channel once when cold, none when warm. */
  resolutions: number;
  series: Array<[number, number]>;
}

export interface CeilingResult extends CeilingRun {
  deliveries: number;
  /** The first campaign to fresh channels, which also resolves every peer (one extra call and write each). */
  cold: CeilingRun;
  counterMismatches: string[];
}

/**
 * No pacing, zero-latency Telegram: how fast the pipeline itself goes. Two campaigns to the same
 * n channels: the first resolves and stores every peer (cold), the second is the steady state
 * of a campaign to known channels, and is the headline figure.
 */
export async function ceiling(cluster: BenchCluster, n: number): Promise<CeilingResult> {
  const b = await setUp(cluster, 'ceiling', n, 1_000_000);
  try {
    const pgPid = await cluster.postmasterPid();
    const ids: string[] = [];
    const run = async (name: string): Promise<CeilingRun> => {
      const id = await withClient(b.db.url, (c) => createCampaign(c, b.owner.userId, { channelIds: b.owner.channelIds, name }));
      ids.push(id);
      const before = b.posted().length;
      const r0 = b.simulator.resolutions;
      const w0 = selfCpuMs();
      const p0 = pgPid ? postgresCpuMs(pgPid) : undefined;
      const t0 = await withClient(b.db.url, (c) => campaignAction(c, b.owner.userId, 'start', id));
      // End: the completed campaign as a client first sees it (polled every 10 ms).
      const { rows, settled, at: end } = await waitSettled(b.db.url, [id], 300_000, 10);
      const w1 = selfCpuMs();
      const p1 = pgPid ? postgresCpuMs(pgPid) : undefined;
      if (!settled) throw new Error(`ceiling campaign did not complete: ${JSON.stringify(rows[0])}`);
      const seconds = (end - t0) / 1000;
      return {
        seconds,
        perSecond: n / seconds,
        workerCpuMsPerDelivery: (w1 - w0) / n,
        postgresCpuMsPerDelivery: p0 !== undefined && p1 !== undefined ? (p1 - p0) / n : null,
        resolutions: b.simulator.resolutions - r0,
        series: ratePerSecond(b.posted().slice(before).map((s) => s.at), t0, 250),
      };
    };
    const cold = await run('ceiling cold');
    const warm = await run('ceiling');
    return { deliveries: n, ...warm, cold, counterMismatches: await exactCounters(b.db, ids) };
  } finally {
    await b.done();
  }
}

export interface PacingResult {
  campaigns: number;
  targets: number;
  perSecond: number;
  seconds: number;
  theoreticalSeconds: number;
  ratio: number;
  finishSeconds: number[];
  fairnessSpread: number;
  progressP50Ms: number;
  progressP95Ms: number;
  progressSamples: number;
  /** Per campaign, sends per second over time. */
  series: Array<{ name: string; points: Array<[number, number]> }>;
  counterMismatches: string[];
}

/**
 * k campaigns × m targets on one account at a fixed pace: total time vs targets / rate, how
 * evenly the campaigns finish, and (observed meanwhile) how soon a send shows in the counter.
 */
export async function pacing(cluster: BenchCluster, s: Sizes): Promise<PacingResult> {
  const total = s.pacingCampaigns * s.pacingTargets;
  const b = await setUp(cluster, 'pacing', total, s.pacingPerSecond * 60);
  try {
    const ids: string[] = [];
    const campaignOfPeer = new Map<string, number>();
    await withClient(b.db.url, async (c) => {
      for (let k = 0; k < s.pacingCampaigns; k++) {
        const slice = b.owner.channelIds.slice(k * s.pacingTargets, (k + 1) * s.pacingTargets);
        b.owner.peers.slice(k * s.pacingTargets, (k + 1) * s.pacingTargets).forEach((p) => campaignOfPeer.set(p, k));
        ids.push(await createCampaign(c, b.owner.userId, { channelIds: slice, name: `pacing ${k + 1}` }));
      }
    });
    const observer = await observeProgress(b.db.url, b.owner.userId, ids);
    // All campaigns start together, the way a user would click start on each: one after another.
    const pool = new pg.Pool({ connectionString: b.db.url, max: ids.length });
    let t0 = 0;
    try {
      const starts = await Promise.all(ids.map(async (id) => {
        const c = await pool.connect();
        try {
          return await campaignAction(c, b.owner.userId, 'start', id);
        } finally {
          c.release();
        }
      }));
      t0 = Math.min(...starts);
    } finally {
      await pool.end();
    }
    const theoreticalSeconds = total / s.pacingPerSecond;
    const { rows, settled } = await waitSettled(b.db.url, ids, theoreticalSeconds * 3000 + 60_000, 50);
    const seen = await observer.stop();
    if (!settled) {
      throw new Error(`pacing campaigns did not complete: ${rows.map((r) => `${r.state} ${r.sent_count}`).join(', ')}`);
    }
    const sends = b.posted();
    // A campaign finishes with its last message reaching Telegram (completed_at is the start
    // of the last batch's transaction, earlier than its sends).
    const finish = ids.map((_, k) =>
      (Math.max(...sends.filter((x) => campaignOfPeer.get(x.peer) === k).map((x) => x.at)) - t0) / 1000
    );
    const seconds = Math.max(...finish);
    const latencies = visibilityLatencies(sends.map((x) => x.at), seen);
    return {
      campaigns: s.pacingCampaigns,
      targets: total,
      perSecond: s.pacingPerSecond,
      seconds,
      theoreticalSeconds,
      ratio: seconds / theoreticalSeconds,
      finishSeconds: finish,
      fairnessSpread: (Math.max(...finish) - Math.min(...finish)) / seconds,
      progressP50Ms: percentile(latencies, 50),
      progressP95Ms: percentile(latencies, 95),
      progressSamples: latencies.length,
      series: ids.map((_, k) => ({
        name: `campaign ${k + 1}`,
        points: ratePerSecond(sends.filter((x) => campaignOfPeer.get(x.peer) === k).map((x) => x.at), t0, 1000),
      })),
      counterMismatches: await exactCounters(b.db, ids),
    };
  } finally {
    await b.done();
  }
}

export interface PickupResult {
  trials: number;
  latenciesMs: number[];
  p50Ms: number;
  p95Ms: number;
}

/** start_campaign committed → the first message reaches Telegram, worker idle beforehand. */
export async function pickup(cluster: BenchCluster, trials: number): Promise<PickupResult> {
  const b = await setUp(cluster, 'pickup', trials, 60_000);
  const latencies: number[] = [];
  try {
    {
      await withClient(b.db.url, async (c) => {
        for (let i = 0; i < trials; i++) {
          const id = await createCampaign(c, b.owner.userId, { channelIds: [b.owner.channelIds[i]!], name: `pickup ${i + 1}` });
          // Let the worker go idle (waiting on NOTIFY or its poll), as between real user actions.
          await new Promise((r) => setTimeout(r, 150 + Math.random() * 150));
          const t0 = await campaignAction(c, b.owner.userId, 'start', id);
          const { settled } = await waitSettled(b.db.url, [id], 30_000, 10);
          if (!settled) throw new Error(`pickup trial ${i + 1} did not complete`);
          const peer = b.owner.peers[i]!;
          const msg = b.posted().find((m) => m.peer === peer);
          if (msg) latencies.push(msg.at - t0);
        }
      });
    }
    return { trials, latenciesMs: latencies, p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95) };
  } finally {
    await b.done();
  }
}
