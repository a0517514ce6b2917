// startWorker(): the embeddable worker. main.ts runs it from the environment; the local stack,
// demo, fault and benchmark scripts and the tests run it in-process (optionally with their own
// TelegramSimulator) or as a child process.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PgBoss, type Db, type Job } from 'pg-boss';
import { CAMPAIGN_RESUME_QUEUE, CampaignResumeJob } from '../../contracts/jobs.ts';
import { AccountRunner } from './account-runner.ts';
import { WorkerConfig, type WorkerConfigInput } from './config.ts';
import * as db from './db.ts';
import { GramJsGateway, createTelegramClient } from './gateway/gramjs-gateway.ts';
import type { TelegramGateway } from './gateway/types.ts';
import { startHttp, type HealthReport } from './health.ts';
import type { SqlExecutor } from './locks.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { simulatedClient } from './simulator/simulated-client.ts';
import { MemoryMessageStore, PostgresMessageStore } from './simulator/store.ts';
import { TelegramSimulator } from './simulator/telegram-simulator.ts';

export interface WorkerDeps {
  logger?: Logger;
  /** Simulator mode: use this simulator (tests inject failures and read message counts). */
  simulator?: TelegramSimulator;
  /** Overrides how a gateway is made for an account (e.g. a GramJS client on a stand-in sender). */
  createGateway?: (accountId: string) => TelegramGateway;
}

export interface RunningWorker {
  config: WorkerConfig;
  boss: PgBoss;
  metrics: Metrics;
  simulator: TelegramSimulator | null;
  /** Bound HTTP port (/health, /metrics), or null without HTTP. */
  httpPort: number | null;
  accounts(): AccountRunner[];
  health(): Promise<HealthReport>;
  /** Graceful stop: no new batches, in-flight sends finish and commit, sessions disconnect. */
  stop(): Promise<void>;
}

const FIVE_MINUTES = 5 * 60_000;

export async function startWorker(input: WorkerConfigInput | WorkerConfig, deps: WorkerDeps = {}): Promise<RunningWorker> {
  const config = WorkerConfig.parse(input);
  const log = deps.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics({ defaultMetrics: !deps.logger });
  const sessions = new Map((config.accounts ?? []).map((a) => [a.accountId, a.session]));

  let simulator: TelegramSimulator | null = null;
  if (config.mode === 'simulator' && !deps.createGateway) {
    simulator = deps.simulator ?? new TelegramSimulator(config.simulator,
      config.simulatorDatabaseUrl ? new PostgresMessageStore(config.simulatorDatabaseUrl) : new MemoryMessageStore());
  }
  const createGateway = deps.createGateway ?? ((accountId: string): TelegramGateway => {
    if (simulator) return new GramJsGateway(simulatedClient(simulator, accountId), { connect: false });
    return new GramJsGateway(createTelegramClient({ session: sessions.get(accountId)!, apiId: config.apiId!, apiHash: config.apiHash! }));
  });

  const maxAccounts = config.accounts?.length ?? 4;
  const boss = new PgBoss({
    connectionString: config.databaseUrl,
    application_name: 'tg-worker',
    max: config.poolMax ?? maxAccounts * config.campaignConcurrency + 6,
    useListenNotify: true,
    // The schema and queues come from the migrations; this process only works jobs.
    migrate: false,
    createSchema: false,
    schedule: false,
    superviseIntervalSeconds: config.superviseSeconds,
    monitorIntervalSeconds: config.superviseSeconds,
  });
  boss.on('error', (err) => log.error({ err }, 'pg-boss error'));
  boss.on('warning', (w) => log.warn({ warning: w }, 'pg-boss warning'));
  await boss.start();
  const pool = boss.getDb();
  const inTransaction = async <T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> => {
    await pool.executeSql('select 1');
    const begin = (pool as { beginTransaction?: () => Promise<{ db: SqlExecutor; commit(): Promise<void>; rollback(): Promise<void> }> }).beginTransaction;
    if (!begin) return fn(pool);
    const t = await begin.call(pool);
    try {
      const r = await fn(t.db);
      await t.commit();
      return r;
    } catch (err) {
      await t.rollback();
      throw err;
    }
  };

  // Local wake-ups: jobs that start in the future (retries, reschedules, the resume after a
  // FLOOD_WAIT) are not announced by NOTIFY, so the worker fetches when they come due.
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  const pendingWakes = new Map<string, number[]>();
  const wakeNow = (queue: string) => {
    for (const w of boss.getWipData()) if (w.name === queue) boss.notifyWorker(w.id);
  };
  const armWake = (queue: string) => {
    const list = pendingWakes.get(queue) ?? [];
    const now = Date.now();
    const due = list.filter((t) => t <= now + 5);
    const later = list.filter((t) => t > now + 5).sort((a, b) => a - b);
    pendingWakes.set(queue, later);
    if (due.length) wakeNow(queue);
    const first = later[0];
    const cur = timers.get(queue);
    if (first === undefined) return;
    if (cur && cur.at <= first) return;
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => { timers.delete(queue); armWake(queue); }, first - now);
    timer.unref();
    timers.set(queue, { at: first, timer });
  };
  const wakeAt = (queue: string, at: number) => {
    const list = pendingWakes.get(queue) ?? [];
    // A few ms late so the job's start_after has passed by the database's clock too.
    if (!list.some((t) => Math.abs(t - at - 15) < 25)) list.push(at + 15);
    pendingWakes.set(queue, list);
    armWake(queue);
  };

  const runners = new Map<string, AccountRunner>();
  const runnerDeps = { boss, config, log, metrics, createGateway, wakeAt, wakeNow, inTransaction };
  const addAccounts = async () => {
    const ids = config.accounts ? config.accounts.map((a) => a.accountId)
      : (await db.readAccounts(pool, null)).map((a) => a.id);
    for (const id of ids) {
      if (runners.has(id)) continue;
      const r = new AccountRunner(id, runnerDeps);
      runners.set(id, r);
      r.start();
    }
  };

  await boss.work(CAMPAIGN_RESUME_QUEUE, {
    transactional: true, batchSize: 10,
    pollingIntervalSeconds: config.pollingSeconds, notifyPollingIntervalSeconds: config.pollingSeconds,
  }, async (jobs: Job<unknown>[], tx: Db) => {
    for (const j of jobs) {
      const { accountId } = CampaignResumeJob.parse(j.data);
      const n = await db.resumeDue(tx, accountId);
      if (n) log.info({ accountId, campaigns: n }, 'FLOOD_WAIT over: campaigns resumed');
    }
  });

  await addAccounts();
  let refreshing = false;
  const refreshTimer = setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    void (async () => {
      if (!config.accounts) await addAccounts();
      for (const r of runners.values()) await r.refresh();
    })().catch((err: unknown) => log.warn({ err }, 'account refresh failed')).finally(() => { refreshing = false; });
  }, config.accountRefreshMs);
  refreshTimer.unref();

  let stopping = false;
  const alerts = async (): Promise<HealthReport['alerts']> => {
    const out: HealthReport['alerts'] = [];
    for (const r of runners.values()) {
      if (r.status === 'session_lost') out.push({ condition: 'session_lost', subject: r.accountId, detail: r.statusReason ?? '' });
    }
    const ids = [...runners.keys()];
    if (ids.length) {
      const { rows } = await pool.executeSql(
        `select c.id, c.sent_count, c.failed_count,
           (select coalesce(sum(d.attempts), 0) from public.deliveries d where d.campaign_id = c.id)::int as attempts,
           greatest(c.started_at, (select max(d.sent_at) from public.deliveries d where d.campaign_id = c.id)) as last_progress
         from public.campaigns c where c.state = 'running' and c.account_id = any ($1::uuid[])`, [ids]);
      for (const c of rows) {
        if (c.attempts >= 10 && c.failed_count > 0.1 * c.attempts) {
          out.push({ condition: 'failure_rate', subject: c.id, detail: `${c.failed_count} failed of ${c.attempts} attempts` });
        }
        if (c.last_progress && Date.now() - new Date(c.last_progress).getTime() > FIVE_MINUTES) {
          out.push({ condition: 'stalled', subject: c.id, detail: 'no delivery for 5 minutes while running' });
        }
      }
    }
    return out;
  };
  const health = async (): Promise<HealthReport> => {
    const accounts = [...runners.values()].map((r) => ({
      accountId: r.accountId, status: r.status, reason: r.statusReason,
      lastSentAt: r.lastSentAt ? new Date(r.lastSentAt).toISOString() : null,
    }));
    const a = await alerts().catch((err: unknown) => [{ condition: 'database', subject: 'worker', detail: String((err as Error).message) }]);
    return { status: stopping ? 'stopping' : a.length ? 'degraded' : 'ok', accounts, alerts: a };
  };
  const beforeScrape = async () => {
    metrics.queueJobs.reset();
    const { rows } = await pool.executeSql(
      `select name, state::text, count(*)::int as n from pgboss.job
       where name like 'delivery.%' or name = $1 and state < 'completed' group by name, state`, [CAMPAIGN_RESUME_QUEUE]);
    for (const r of rows) metrics.queueJobs.set({ queue: r.name, state: r.state }, r.n);
    metrics.alert.reset();
    for (const a of (await health()).alerts) metrics.alert.set({ condition: a.condition, subject: a.subject }, 1);
    for (const r of runners.values()) {
      const until = Math.max(0, ((await db.readAccounts(pool, [r.accountId]))[0]?.flood_wait_until?.getTime() ?? 0) - Date.now());
      metrics.floodWaitSeconds.set({ account: r.accountId }, until / 1000);
    }
  };

  let server: Server | null = null;
  if (config.httpPort !== null) {
    server = await startHttp({ host: config.httpHost, port: config.httpPort, metrics, health, beforeScrape });
  }
  log.info({ mode: config.mode, accounts: [...runners.keys()], httpPort: (server?.address() as AddressInfo | null)?.port ?? null }, 'worker started');

  return {
    config, boss, metrics, simulator,
    httpPort: server ? (server.address() as AddressInfo).port : null,
    accounts: () => [...runners.values()],
    health,
    async stop() {
      if (stopping) return;
      stopping = true;
      log.info('worker stopping: finishing in-flight sends');
      clearInterval(refreshTimer);
      for (const t of timers.values()) clearTimeout(t.timer);
      await Promise.all([...runners.values()].map((r) => r.stop()));
      await boss.stop({ graceful: true, timeout: 30_000 });
      if (simulator && !deps.simulator) await simulator.close();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      log.info('worker stopped');
    },
  };
}
