// startWorker(): the embeddable worker. main.ts runs it from the environment; the local stack,
// demo, fault and benchmark scripts and the tests run it in-process (optionally with their own
// TelegramSimulator) or as a child process.
//
// Connections are a constant, whatever the number of accounts: one lock session (every
// account's advisory lock, LISTEN, and the process's presence among the workers), pg-boss's pool of 2 (supervision, the campaign-resume
// queue) and the worker's pool (fetch, record, heartbeats, reads): maxConnections in all.
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { type Job, PgBoss } from 'pg-boss';
import { CAMPAIGN_RESUME_QUEUE, CampaignResumeJob } from '../../contracts/jobs.ts';
import type { Account } from './account/account.ts';
import { AccountLocks } from './account-locks.ts';
import { SendClearance } from './clearance.ts';
import { sessionKeys, WorkerConfig, type WorkerConfigInput } from './config.ts';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';
import { FetchLoop } from './fetch-loop.ts';
import { Fleet } from './fleet.ts';
import { lockSessionName } from './fleet-share.ts';
import { createTelegramClient, GramJsGateway } from './gateway/gramjs-gateway.ts';
import type { TelegramGateway } from './gateway/types.ts';
import { type HealthReport, healthReporter, startHttp } from './health.ts';
import { createLogger, type Logger } from './logger.ts';
import { LoginService } from './login/service.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { ReachSampler } from './reach/sampler.ts';
import { Recorder } from './recorder.ts';
import { ServedSessions } from './sessions/served.ts';
import { simulatedClient } from './simulator/simulated-client.ts';
import { workWebhooks } from './webhooks/queue.ts';
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
  accounts(): Account[];
  health(): Promise<HealthReport>;
  /** Graceful stop: no new fetches, in-flight sends finish and are recorded, sessions disconnect. */
  stop(): Promise<void>;
}

const BOSS_CONNECTIONS = 2;
const FULL_SUPERVISE_SECONDS = 300;
/**
 * A graceful stop takes the sends in flight (each at most sendTimeoutMs) and then at most this
 * long to record them, stop pg-boss and disconnect, whether or not the database answers: what
 * is not recorded by then stays with its jobs, which come back after their heartbeat and are
 * resent with the same random_id (Telegram posts once).
 */
export const STOP_AFTER_SENDS_MS = 10_000;

function gatewayFactory(
  config: WorkerConfig,
  deps: WorkerDeps,
  sessions: ServedSessions | null,
): { simulator: TelegramSimulator | null; create(accountId: string): TelegramGateway } {
  if (deps.createGateway) return { simulator: null, create: deps.createGateway };
  if (config.mode === 'simulator') {
    const simulator = deps.simulator ??
      new TelegramSimulator(
        config.simulator,
        config.simulatorDatabaseUrl ? new PostgresMessageStore(config.simulatorDatabaseUrl) : new MemoryMessageStore(),
      );
    return { simulator, create: (id) => new GramJsGateway(simulatedClient(simulator, id), { connect: false }) };
  }
  // Listed accounts carry their sessions; otherwise the fleet serves only accounts whose stored session opened.
  const listed = new Map(config.accounts?.map((a) => [a.accountId, a.session]));
  const session = (id: string) => {
    const s = sessions ? sessions.get(id) : listed.get(id);
    // Never an empty session: GramJS would start unauthorised and the account be taken for revoked.
    if (!s) throw new Error(`no session held for account ${id}`);
    return s;
  };
  return {
    simulator: null,
    create: (id) =>
      new GramJsGateway(createTelegramClient({
        session: session(id),
        apiId: config.apiId!,
        apiHash: config.apiHash!,
        server: config.server,
        proxy: sessions?.proxy(id),
        proxyAllowPrivate: config.proxyAllowPrivateTargets,
      })),
  };
}

/** gramjs mode without a list: the stored sessions, opened with the worker's keys (or a refusal to start). */
async function servedSessions(
  config: WorkerConfig,
  deps: WorkerDeps,
  pool: pg.Pool,
  log: Logger,
): Promise<ServedSessions | null> {
  if (config.mode !== 'gramjs' || config.accounts || deps.createGateway) return null;
  const sessions = new ServedSessions(sessionKeys(config), log);
  await sessions.load(pool, config.maxAccounts);
  return sessions;
}

/** Sign-in through the API: a gramjs worker holding the session key (it stores what it signs in). */
async function loginService(
  config: WorkerConfig,
  pool: pg.Pool,
  log: Logger,
  lockPid: () => number,
): Promise<LoginService | null> {
  if (config.mode !== 'gramjs' || !config.sessionKey || !config.apiId || !config.apiHash) return null;
  const service = new LoginService({
    pool,
    log,
    sessionKeys: sessionKeys(config),
    app: { apiId: config.apiId, apiHash: config.apiHash },
    server: config.server,
    proxyAllowPrivate: config.proxyAllowPrivateTargets,
    pollMs: config.pollingSeconds * 1000,
    lockPid,
  });
  await service.start();
  return service;
}

async function startBoss(config: WorkerConfig, log: Logger): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: config.databaseUrl,
    application_name: 'tg-worker boss',
    max: BOSS_CONNECTIONS,
    // The fetch loop LISTENs on the lock session; the resume queue is polled and woken locally.
    useListenNotify: false,
    // The schema and queues come from the migrations; this process only works jobs.
    migrate: false,
    createSchema: false,
    schedule: false,
    // A full pass over every queue is rare; the fetch loop supervises queues with stuck jobs.
    superviseIntervalSeconds: FULL_SUPERVISE_SECONDS,
    monitorIntervalSeconds: config.superviseSeconds,
  });
  boss.on('error', (err) => log.error({ err }, 'pg-boss error'));
  boss.on('warning', (w) => log.warn({ warning: w }, 'pg-boss warning'));
  await boss.start();
  return boss;
}

/** FLOOD_WAIT-paused campaigns resume when the wait ends (a job worker_flood_wait enqueued). */
async function workResumeQueue(boss: PgBoss, pool: pg.Pool, config: WorkerConfig, log: Logger): Promise<(at: number) => void> {
  const workId = await boss.work(CAMPAIGN_RESUME_QUEUE, {
    batchSize: 10,
    pollingIntervalSeconds: config.pollingSeconds,
  }, async (jobs: Job<unknown>[]) => {
    for (const j of jobs) {
      const { accountId } = CampaignResumeJob.parse(j.data);
      const n = await db.resumeDue(pool, accountId);
      if (n) log.info({ accountId, campaigns: n }, 'FLOOD_WAIT over: campaigns resumed');
    }
  });
  return (at) => {
    setTimeout(() => boss.notifyWorker(workId), Math.max(0, at - Date.now() + 20)).unref();
  };
}

export async function startWorker(input: WorkerConfigInput | WorkerConfig, options: WorkerDeps = {}): Promise<RunningWorker> {
  const config = WorkerConfig.parse(input);
  const log = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics({ defaultMetrics: !options.logger });
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    application_name: 'tg-worker',
    max: config.maxConnections - BOSS_CONNECTIONS - 1,
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  // Before anything starts: a worker whose keys open no stored session changes nothing.
  const sessions = await servedSessions(config, options, pool, log).catch(async (err: unknown) => {
    await pool.end();
    throw err;
  });
  const gateways = gatewayFactory(config, options, sessions);
  const boss = await startBoss(config, log);
  const wakeResume = await workResumeQueue(boss, pool, config, log);
  const webhooks = await workWebhooks({ boss, pool, config, log });

  let fleet: Fleet | null = null;
  const logins = await loginService(config, pool, log, () => fleet?.lockPid ?? 0);
  const clearance = new SendClearance({ pool, log, accounts: () => fleet?.accounts.values() ?? [] });
  const onNotify = (q: string) =>
    fleet?.notified(q) || clearance.notified(q) || webhooks.notified(q) || logins?.notified(q) || fetch.notified(q);
  const locks = new AccountLocks(config.databaseUrl, { onLost: () => fleet?.lost(), onNotify }, lockSessionName(config));
  const recorder = new Recorder(pool, {
    flushMs: config.flushMs,
    log,
    metrics,
    hooks: {
      committed: (outcomes, campaigns) => {
        fetch.settled(outcomes.map((o) => o.jobId));
        for (const c of campaigns) fleet?.accounts.get(c.accountId)?.campaignStates([c]);
        logOutcomes(log, outcomes, campaigns);
      },
      flooded: (_accountId, resumeAt) => wakeResume(resumeAt.getTime()),
    },
  });
  const fetch = new FetchLoop({ pool, config, log, locks, accounts: () => fleet!.accounts, supervise: (q) => boss.supervise(q) });
  const wake = (id: string, at?: number) => fetch.wake(id, at);
  const hungry = (id: string) => fetch.hungry(id);
  const uncleared = () => clearance.soon();
  const deps = { config, log, metrics, recorder, createGateway: gateways.create, wake, hungry, uncleared };
  fleet = new Fleet({ pool, config, log, locks, deps, sessions, holding: (id) => fetch.holding(id), taken: () => fetch.taken() });
  await fleet.start();
  fetch.start();
  const reach = new ReachSampler({
    pool,
    config,
    log,
    host: { accountIds: () => fleet!.accounts.keys(), connection: (id) => fleet!.connection(id), lockPid: () => fleet!.lockPid },
  });
  reach.start();

  let stopping = false;
  const health = healthReporter({
    pool,
    accounts: () => [...fleet!.accounts.values()],
    stopping: () => stopping,
    lastFetchAt: (id) => fetch.lastFetchAt(id),
    stallMs: config.fetchStallSeconds * 1000,
    lockPid: () => locks.pid,
  });
  const server = config.httpPort === null ? null : await startHttp({
    host: config.httpHost,
    port: config.httpPort,
    metrics,
    health: health.report,
    beforeScrape: () => health.scrape(metrics),
  });
  const httpPort = server ? (server.address() as AddressInfo).port : null;
  log.info(
    { mode: config.mode, accounts: fleet.accounts.size, httpPort, maxConnections: config.maxConnections },
    'worker started',
  );

  return {
    config,
    boss,
    metrics,
    simulator: gateways.simulator,
    httpPort,
    accounts: () => [...fleet!.accounts.values()],
    health: () => health.report(),
    async stop() {
      if (stopping) return;
      stopping = true;
      log.info('worker stopping: finishing in-flight sends');
      fetch.stop();
      // Bounded from the sends in flight on (STOP_AFTER_SENDS_MS): the database may not answer.
      // The fleet records them and hands its accounts over before the sessions disconnect; a
      // reach read under way meanwhile ends with its call, and its round goes back to the queue.
      await Promise.all([reach.stop(), fleet!.stop()]);
      clearance.stop();
      webhooks.stop();
      await logins?.stop();
      await Promise.all([
        withTimeout(boss.stop({ graceful: true, timeout: 2_000 }), 3_000, 'pg-boss stop').catch(() => {}),
        locks.close(),
        withTimeout(pool.end(), 3_000, 'pool end').catch(() => {}),
      ]);
      if (gateways.simulator && !options.simulator) await gateways.simulator.close();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      log.info('worker stopped');
    },
  };
}

/**
 * What an operator wants in the log without turning on debug: each failure and retry with its
 * Telegram error, and each campaign that paused or completed. Sends stay silent.
 */
function logOutcomes(log: Logger, outcomes: db.Outcome[], campaigns: db.CampaignState[]): void {
  for (const o of outcomes) {
    if (o.outcome !== 'failed' && o.outcome !== 'retry' && o.outcome !== 'unconfirmed') continue;
    const fields = {
      accountId: o.accountId,
      campaignId: o.campaignId,
      deliveryId: o.deliveryId,
      errorCode: o.errorCode,
      errorMessage: o.errorMessage,
    };
    if (o.outcome === 'retry') log.info({ ...fields, retryAt: o.retryAt }, 'delivery will be retried');
    else log.warn(fields, `delivery ${o.outcome}`);
  }
  for (const c of campaigns) {
    if (c.state !== 'running') {
      log.info(
        { campaignId: c.id, state: c.state, pauseReason: c.pauseReason, sent: c.sent, failed: c.failed },
        `campaign ${c.state}`,
      );
    }
  }
}
