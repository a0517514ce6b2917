// Worker configuration: parsed from the environment with zod (main.ts) or passed in directly
// (startWorker), so scripts and tests can embed the worker with the same validated shape.
import { z } from 'zod';
import { TelegramServer } from './gateway/server.ts';
import { parseSessionKey, type SessionKey } from './sessions/vault.ts';
import { SimulatorOptions } from './simulator/options.ts';

const jsonFromString = <T extends z.ZodType>(schema: T, what: string) =>
  z.string().transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: `${what} must be JSON` });
      return z.NEVER;
    }
  }).pipe(schema);

export const AccountConfig = z.object({
  accountId: z.uuid(),
  /** GramJS StringSession from `npm run login`; absent in simulator mode. A secret: never logged. */
  session: z.string().min(1).optional(),
});
export type AccountConfig = z.infer<typeof AccountConfig>;

/** A base64 32-byte key (secret: never logged); checked here, made a SessionKey where used. */
const SessionKeyText = z.string().superRefine((text, ctx) => {
  try {
    parseSessionKey(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const WorkerConfig = z.object({
  databaseUrl: z.string().min(1),
  /** gramjs: real Telegram; simulator: the in-process Telegram stand-in (demo, tests, benchmarks). */
  mode: z.enum(['gramjs', 'simulator']),
  /**
   * Accounts whose sessions this process holds; null = accounts of the database: in gramjs mode
   * those with a session stored sealed (opened with sessionKey). Workers share them (fleet-share.ts).
   */
  accounts: z.array(AccountConfig).nullable(),
  /** Seals and opens the sessions stored in the database (AES-256-GCM). Secret: never logged. */
  sessionKey: SessionKeyText.optional(),
  /** Earlier keys, still opening rows not yet re-sealed during a rotation. Secret: never logged. */
  sessionKeysOld: z.array(SessionKeyText).default([]),
  apiId: z.number().int().positive().optional(),
  apiHash: z.string().min(1).optional(),
  /** gramjs mode: Telegram's test DCs or a stand-in instead of Telegram's production DCs. */
  server: TelegramServer.optional(),
  simulator: SimulatorOptions.prefault({}),
  /** The Supabase project URL and service role key: media campaigns read their files from Storage with them. Secret: never logged. */
  supabaseUrl: z.string().url().optional(),
  serviceRoleKey: z.string().min(1).optional(),
  /** Where the simulator keeps sent messages; unset = in memory (lost with the process). */
  simulatorDatabaseUrl: z.string().min(1).optional(),
  httpPort: z.number().int().min(0).max(65535).nullable().default(9464),
  // Loopback unless asked: the endpoints name accounts and their flood state (0.0.0.0 in containers).
  httpHost: z.string().default('127.0.0.1'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Every Telegram call is abandoned (and retried as transient) after this long. */
  sendTimeoutMs: z.number().int().positive().default(15_000),
  /** A probe (help.getNearestDc) after a timeout: Telegram counts as unreachable when it takes longer. */
  probeTimeoutMs: z.number().int().positive().default(5_000),
  /** Transient failures retry after base, 2×base, 4×base seconds (5/10/20 s), then fail. */
  retryBaseSeconds: z.number().positive().default(5),
  // 5 %: spreads retries of many targets, and with pickup and commit stays within 10 % of 5/10/20 s.
  retryJitter: z.number().min(0).max(0.1).default(0.05),
  /** Deliveries claimed ahead of each account's pacer: about this much of its sending. */
  lookaheadSeconds: z.number().positive().max(10).default(1),
  /** Most jobs one account takes in one fetch. */
  maxTake: z.number().int().min(1).max(1000).default(200),
  /** Outcomes are committed together at most this long after the first of them. */
  flushMs: z.number().int().min(1).max(1000).default(50),
  /** Running campaigns of an account interleaved round-robin; more wait their turn in start order. */
  campaignConcurrency: z.number().int().min(1).max(32).default(6),
  /**
   * Sends in flight per account. The pacer alone decides when each send starts (rate and
   * 1-second windows hold whatever this is); more than one keeps the pace while sends are slow.
   */
  sendConcurrency: z.number().int().min(1).max(64).default(8),
  /** Fallback look at queues for due jobs; NOTIFY and local timers wake the worker sooner. */
  pollingSeconds: z.number().min(0.5).default(2),
  /** /health is degraded (not_fetching) for an account with jobs due this long and no fetch for as long. */
  fetchStallSeconds: z.number().positive().default(30),
  /** How often the worker looks for jobs of a dead process in its queues (heartbeat 10 s) and has pg-boss retry them. */
  superviseSeconds: z.number().int().min(1).default(10),
  /** Held jobs get a heartbeat this often (pg-boss fails a job silent for 10 s). */
  heartbeatMs: z.number().int().positive().max(9_000).default(4_000),
  accountLockRetryMs: z.number().int().positive().default(2_000),
  /** Re-read accounts' pace and state (and, in simulator mode without a list, find new ones) this often. */
  accountRefreshMs: z.number().int().positive().default(5_000),
  /** Accounts this process holds at most at once (of its list, or of the database), whatever its fair share. */
  maxAccounts: z.number().int().positive().default(1_000),
  /** Each webhook attempt is abandoned (and retried) after this long. */
  webhookTimeoutMs: z.number().int().min(100).max(30_000).default(10_000),
  /** Local development and tests only: webhooks may go to loopback and private addresses. */
  webhookAllowPrivateTargets: z.boolean().default(false),
  /** Local development and tests only: an account's proxy may be a loopback or private address. */
  proxyAllowPrivateTargets: z.boolean().default(false),
  webhookConcurrency: z.number().int().min(1).max(64).default(4),
  /** Reach reads (messages.getMessagesViews and getMessagesReactions, up to 100 posts each) per account per minute; 0: no reach sampling here. */
  reachCallsPerMinute: z.number().min(0).max(600).default(30),
  /** Database connections of the whole process, whatever the number of accounts (at least 4). */
  maxConnections: z.number().int().min(4).default(8),
});
export type WorkerConfig = z.infer<typeof WorkerConfig>;
export type WorkerConfigInput = z.input<typeof WorkerConfig>;

const int = z.coerce.number().int();
const num = z.coerce.number();

/** The session keys of the environment (the worker's, and `npm run accounts`'). */
export const SessionKeysEnv = z.object({
  WORKER_SESSION_KEY: SessionKeyText.optional(),
  WORKER_SESSION_KEYS_OLD: z.string().transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean))
    .pipe(z.array(SessionKeyText)).optional(),
});

export const TelegramAccountsText = jsonFromString(
  z.array(AccountConfig).min(1),
  'TELEGRAM_ACCOUNTS (e.g. [{"accountId":"<uuid>","session":"<StringSession>"}])',
);

/** The environment the worker reads; every value is validated, none is logged verbatim. */
const Env = z.object({
  DATABASE_URL: z.string({ error: 'DATABASE_URL is required (Supabase: the session pooler or direct connection string)' }).min(1),
  TELEGRAM_MODE: z.enum(['gramjs', 'simulator'], {
    error:
      'TELEGRAM_MODE is required: gramjs (real Telegram: TELEGRAM_ACCOUNTS with sessions) or simulator (a stand-in, posts nothing)',
  }),
  ...SessionKeysEnv.shape,
  TELEGRAM_ACCOUNTS: TelegramAccountsText.optional(),
  TELEGRAM_API_ID: int.positive().optional(),
  TELEGRAM_API_HASH: z.string().min(1).optional(),
  TELEGRAM_SERVER: jsonFromString(
    TelegramServer,
    'TELEGRAM_SERVER (e.g. {"dcs":[{"id":2,"host":"127.0.0.1","port":20443}],"publicKeyPem":"-----BEGIN RSA PUBLIC KEY-----…"})',
  ).optional(),
  SIMULATOR_CONFIG: jsonFromString(SimulatorOptions, 'SIMULATOR_CONFIG').optional(),
  SIMULATOR_DATABASE_URL: z.string().min(1).optional(),
  SUPABASE_URL: z.string().url({ error: 'SUPABASE_URL must be the project URL, e.g. https://<ref>.supabase.co' }).optional(),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1).optional(),
  WORKER_HTTP_PORT: int.min(0).max(65535).optional(),
  WORKER_HTTP_HOST: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  SEND_TIMEOUT_MS: int.positive().optional(),
  RETRY_BASE_SECONDS: num.positive().optional(),
  CAMPAIGN_CONCURRENCY: int.min(1).optional(),
  SEND_CONCURRENCY: int.min(1).optional(),
  POLLING_SECONDS: num.min(0.5).optional(),
  SUPERVISE_SECONDS: int.min(1).optional(),
  FETCH_STALL_SECONDS: num.positive().optional(),
  WORKER_MAX_ACCOUNTS: int.positive().optional(),
  /** The name WORKER_MAX_ACCOUNTS had when only the simulator served the database's accounts. */
  SIMULATOR_MAX_ACCOUNTS: int.positive().optional(),
  WORKER_MAX_CONNECTIONS: int.min(4).optional(),
  WEBHOOK_TIMEOUT_MS: int.min(100).max(30_000).optional(),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false']).optional(),
  PROXY_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false']).optional(),
  REACH_CALLS_PER_MINUTE: num.min(0).max(600).optional(),
});

export class ConfigError extends Error {}

/** Validates an environment; throws ConfigError with one line per problem, naming the variable, never its value. */
export function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv, what: string): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`invalid ${what}:\n${
      parsed.error.issues
        .map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`).join('\n')
    }`);
  }
  return parsed.data;
}

/** Reads and validates the environment; throws ConfigError with one line per problem. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const e = parseEnv(Env, env, 'worker configuration');
  const mode = e.TELEGRAM_MODE;
  const problems: string[] = [];
  if (mode === 'gramjs') {
    if (!e.TELEGRAM_ACCOUNTS && !e.WORKER_SESSION_KEY) {
      problems.push(
        'gramjs mode needs WORKER_SESSION_KEY (to serve the sessions stored in the database) or TELEGRAM_ACCOUNTS (a list with sessions)',
      );
    }
    for (const a of e.TELEGRAM_ACCOUNTS ?? []) {
      if (!a.session) problems.push(`TELEGRAM_ACCOUNTS: account ${a.accountId} has no session (run \`npm run login\`)`);
    }
    if (!e.TELEGRAM_API_ID) problems.push('TELEGRAM_API_ID is required in gramjs mode (https://my.telegram.org)');
    if (!e.TELEGRAM_API_HASH) problems.push('TELEGRAM_API_HASH is required in gramjs mode');
  }
  if (problems.length) throw new ConfigError(`invalid worker configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return WorkerConfig.parse(
    {
      databaseUrl: e.DATABASE_URL,
      mode,
      accounts: e.TELEGRAM_ACCOUNTS ?? null,
      sessionKey: e.WORKER_SESSION_KEY,
      sessionKeysOld: e.WORKER_SESSION_KEYS_OLD,
      apiId: e.TELEGRAM_API_ID,
      apiHash: e.TELEGRAM_API_HASH,
      server: e.TELEGRAM_SERVER,
      simulator: e.SIMULATOR_CONFIG,
      simulatorDatabaseUrl: e.SIMULATOR_DATABASE_URL,
      supabaseUrl: e.SUPABASE_URL,
      serviceRoleKey: e.SUPABASE_SERVICE_ROLE_KEY,
      httpPort: e.WORKER_HTTP_PORT,
      httpHost: e.WORKER_HTTP_HOST,
      logLevel: e.LOG_LEVEL,
      sendTimeoutMs: e.SEND_TIMEOUT_MS,
      retryBaseSeconds: e.RETRY_BASE_SECONDS,
      campaignConcurrency: e.CAMPAIGN_CONCURRENCY,
      sendConcurrency: e.SEND_CONCURRENCY,
      pollingSeconds: e.POLLING_SECONDS,
      superviseSeconds: e.SUPERVISE_SECONDS,
      fetchStallSeconds: e.FETCH_STALL_SECONDS,
      maxAccounts: e.WORKER_MAX_ACCOUNTS ?? e.SIMULATOR_MAX_ACCOUNTS,
      maxConnections: e.WORKER_MAX_CONNECTIONS,
      webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
      webhookAllowPrivateTargets: e.WEBHOOK_ALLOW_PRIVATE_TARGETS === 'true',
      proxyAllowPrivateTargets: e.PROXY_ALLOW_PRIVATE_TARGETS === 'true',
      reachCallsPerMinute: e.REACH_CALLS_PER_MINUTE,
    } satisfies WorkerConfigInput,
  );
}

/** The keys that open stored sessions: the current one first, then those of a rotation. */
export function sessionKeys(config: WorkerConfig): SessionKey[] {
  return [config.sessionKey, ...config.sessionKeysOld].filter((k) => k !== undefined).map(parseSessionKey);
}
