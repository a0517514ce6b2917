// Databases of the local stack, tests, benchmarks and fault suite: cloning the migrated
// template, one-off connections, auth.users rows, and acting as Supabase's request roles the way
// PostgREST does (role + request.jwt.claims, transaction-local).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sleep } from '../../contracts/time.ts';
import { applyBaseline, asPostgresRole, pushMigrations, quoteIdent, withDatabase } from './migrate.ts';

/** Anything with pg's query(): a pg.Client, pg.PoolClient or pg.Pool. */
export interface Queryable {
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * (Re)builds `template` on the cluster of `adminUrl` (superuser, maintenance DB): baseline, the
 * real migrations through the CLI as role postgres, then a template no one may connect to.
 * Returns the CLI's output.
 */
export async function buildTemplate(adminUrl: string, template: string): Promise<string> {
  await withClient(adminUrl, async (c) => {
    // A reused cluster may hold an old template: rebuild it from scratch.
    const old = await c.query('select 1 from pg_database where datname = $1', [template]);
    if (old.rowCount) {
      await c.query(`alter database ${quoteIdent(template)} is_template false`);
      await c.query(`drop database ${quoteIdent(template)} with (force)`);
    }
  });
  await applyBaseline(adminUrl, template);
  const output = await pushMigrations(asPostgresRole(withDatabase(adminUrl, template)));
  await withClient(adminUrl, async (c) => {
    // No one may stay connected to a template, or CREATE DATABASE ... TEMPLATE fails.
    await c.query(`alter database ${quoteIdent(template)} is_template true allow_connections false`);
    await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [template]);
  });
  return output;
}

/** The functions' login role of the local baseline: only a member of `authenticated`. */
export const FUNCTIONS_ROLE = 'functions_api';

/** The same database as the functions' login role (local password; see baseline.sql). */
export function asFunctionsRole(url: string): string {
  const u = new URL(url);
  u.username = FUNCTIONS_ROLE;
  u.password = FUNCTIONS_ROLE;
  return u.toString();
}

export interface ClonedDatabase {
  name: string;
  /** As role `postgres` (not a superuser), like migrations/functions/worker on hosted Supabase. */
  url: string;
  /** As the cluster superuser; for fixtures the app roles may not write (auth.users). */
  adminUrl: string;
}

/** A new database `name` cloned from `template` in milliseconds, owned by postgres. */
export async function cloneDatabase(adminUrl: string, template: string, name: string): Promise<ClonedDatabase> {
  await withClient(adminUrl, async (c) => {
    for (let attempt = 0;; attempt++) {
      try {
        await c.query(`create database ${quoteIdent(name)} template ${quoteIdent(template)} owner postgres`);
        return;
      } catch (err) {
        // Raised while anyone (even another clone in flight) is connected to the template.
        if (attempt < 50 && /is being accessed by other users/.test(String((err as Error).message))) {
          await sleep(50 + Math.random() * 100);
          continue;
        }
        throw err;
      }
    }
  });
  const dbAdmin = withDatabase(adminUrl, name);
  return { name, url: asPostgresRole(dbAdmin), adminUrl: dbAdmin };
}

/** Drops a database, disconnecting whoever is still on it. */
export function dropDatabase(adminUrl: string, name: string): Promise<void> {
  return withClient(adminUrl, async (c) => {
    await c.query(`drop database if exists ${quoteIdent(name)} with (force)`);
  });
}

/**
 * Connects to `url`, runs fn, always closes the connection. A short-lived connection of its own,
 * so callers polling across a Postgres restart (the fault suite) get an error, not a hang.
 */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  // Generous: a test process that runs many stand-ins side by side stalls its event loop for
  // seconds (measured 1.1 s at load 6), and a connect timed out then is the harness's, not the product's.
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 30_000 });
  c.on('error', () => {}); // a dropped connection surfaces as the query's error
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** create_campaign as the user of the open transaction `t` (see asUser); the one fixture of tests and benchmarks. */
export async function createCampaignAs(t: TxClient, o: {
  channelIds: string[];
  name?: string;
  message?: Record<string, unknown>;
  accountId?: string | null;
  ratePerMinute?: number | null;
  maxErrors?: number | null;
  scheduledAt?: string | null;
}): Promise<string> {
  const r = await t.query(
    `select (public.create_campaign(p_name => $1, p_channel_ids => $2::uuid[], p_message => $3::jsonb,
       p_account_id => $4, p_rate_per_minute => $5, p_max_errors => $6, p_scheduled_at => $7)).id`,
    [
      o.name ?? 'campaign',
      o.channelIds,
      JSON.stringify({ text: 'Hello', parseMode: 'plain', ...o.message }),
      o.accountId ?? null,
      o.ratePerMinute ?? null,
      o.maxErrors ?? null,
      o.scheduledAt ?? null,
    ],
  );
  return r.rows[0].id as string;
}

export interface NewUser {
  id?: string;
  email?: string;
  appMetadata?: Record<string, unknown>;
  userMetadata?: Record<string, unknown>;
}

/**
 * Inserts a user into auth.users and returns its id. auth.users belongs to the Auth service, so
 * this writes as the superuser: pass a database with its adminUrl, a superuser URL, or a superuser client.
 */
export async function createUser(
  target: { adminUrl: string } | string | Queryable,
  user: NewUser | string = {},
): Promise<string> {
  const u: NewUser = typeof user === 'string' ? { email: user } : user;
  const id = u.id ?? randomUUID();
  const email = u.email ?? `user-${id.slice(0, 8)}@example.test`;
  const run = (q: Queryable) =>
    q.query(
      `insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at,
       raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
     values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', $2, now(),
       $3, $4, now(), now())`,
      [
        id,
        email,
        JSON.stringify(u.appMetadata ?? { provider: 'email', providers: ['email'] }),
        JSON.stringify(u.userMetadata ?? {}),
      ],
    );
  if (typeof target === 'string') await withClient(target, run);
  else if ('adminUrl' in target) await withClient(target.adminUrl, run);
  else await run(target);
  return id;
}

export interface AsRoleOptions {
  /** Extra/overriding JWT claims (e.g. email, app_metadata). */
  claims?: Record<string, unknown>;
  /** Roll back instead of committing (side effects vanish; errors still propagate). */
  rollback?: boolean;
}

/** A pg client (not a Pool: the transaction must stay on one connection). */
export type TxClient = pg.Client | pg.PoolClient;

/**
 * Runs fn inside a transaction as `role` with request.jwt.claims set, exactly as PostgREST does
 * per request (set_config(..., true) = transaction-local). The client must be connected as
 * `postgres` (db.connect()), which is allowed to SET ROLE to anon/authenticated/service_role.
 */
export async function asRole<T>(
  client: TxClient,
  role: 'anon' | 'authenticated' | 'service_role',
  claims: Record<string, unknown>,
  fn: (c: TxClient) => Promise<T>,
  opts: { rollback?: boolean } = {},
): Promise<T> {
  await client.query('begin');
  try {
    await client.query(
      `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
              set_config('request.method', 'POST', true)`,
      [role, JSON.stringify(claims)],
    );
    const result = await fn(client);
    await client.query(opts.rollback ? 'rollback' : 'commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}

function baseClaims(role: string, sub?: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'supabase-test',
    aud: role === 'anon' ? 'anon' : 'authenticated',
    role,
    iat: now,
    exp: now + 3600,
    ...(sub ? { sub } : {}),
  };
}

/** As an end user: role authenticated, claims { sub: userId, role: 'authenticated', aud, ... }. */
export function asUser<T>(
  client: TxClient,
  userId: string,
  fn: (c: TxClient) => Promise<T>,
  opts: AsRoleOptions = {},
): Promise<T> {
  const claims = {
    ...baseClaims('authenticated', userId),
    app_metadata: { provider: 'email' },
    user_metadata: {},
    is_anonymous: false,
    ...opts.claims,
  };
  return asRole(client, 'authenticated', claims, fn, opts);
}

/** As the service_role key would (BYPASSRLS, but only the grants service_role has). */
export function asServiceRole<T>(client: TxClient, fn: (c: TxClient) => Promise<T>, opts: AsRoleOptions = {}): Promise<T> {
  return asRole(client, 'service_role', { ...baseClaims('service_role'), ...opts.claims }, fn, opts);
}

/** As the anon key would. */
export function asAnon<T>(client: TxClient, fn: (c: TxClient) => Promise<T>, opts: AsRoleOptions = {}): Promise<T> {
  return asRole(client, 'anon', { ...baseClaims('anon'), ...opts.claims }, fn, opts);
}
