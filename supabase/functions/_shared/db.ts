// Postgres access as the calling user, the way PostgREST does it: one transaction per request
// with role `authenticated` and the verified JWT claims set transaction-locally, so RLS and the
// RPCs see auth.uid() and decide.
//
// Which database URL: DATABASE_URL first, a secret the user sets to Supabase's transaction pooler
// (port 6543), so many function instances share a few server connections; else the platform's
// SUPABASE_DB_URL, a direct connection, with a warning. The pool stays small either way: every
// instance of every function has its own.
// prepare:false because the transaction pooler cannot keep prepared statements across transactions.
import postgres from 'postgres';
import { env } from './env.ts';
import type { UserClaims } from './auth.ts';
import { ApiError } from './errors.ts';

export type Tx = postgres.TransactionSql;
export type Row = postgres.Row;
/** A piece of SQL built with tx`...`, spliced into another query. */
export type Fragment = postgres.Fragment;

let pool: postgres.Sql | undefined;

const POOL_SIZE = 3;

function sql(): postgres.Sql {
  if (pool) return pool;
  const pooled = env('DATABASE_URL');
  const url = pooled ?? env('SUPABASE_DB_URL');
  if (!url) throw new Error('no database URL: set the DATABASE_URL secret (the transaction pooler, port 6543)');
  if (!pooled) {
    console.warn(
      '[functions] DATABASE_URL is not set: using SUPABASE_DB_URL, a direct connection per instance. ' +
        'Set DATABASE_URL to the transaction pooler (port 6543).',
    );
  }
  pool = postgres(url, {
    prepare: false,
    max: Number(env('DB_POOL_SIZE') ?? POOL_SIZE),
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'edge-functions' },
  });
  return pool;
}

/** A request waiting longer than this for one of the pool's connections is answered 503. */
const ACQUIRE_TIMEOUT_MS = 5_000;
let inUse = 0;
const waiting: Array<() => void> = [];

/**
 * Takes one of the pool's connections for a transaction. postgres.js queues a query without limit
 * while every connection is busy; here a request gives up after ACQUIRE_TIMEOUT_MS with a clear
 * 503 instead of hanging behind others.
 */
async function acquire(max: number): Promise<() => void> {
  if (inUse >= max) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(granted), 1);
        reject(new ApiError(503, 'unavailable', 'the database is busy; try again'));
      }, ACQUIRE_TIMEOUT_MS);
      const granted = () => {
        clearTimeout(timer);
        resolve();
      };
      waiting.push(granted);
    });
  } else inUse++;
  // A released connection passes straight to the next waiter (inUse stays).
  return () => (waiting.length ? waiting.shift()!() : inUse--);
}

/**
 * One transaction as the user. The server ends it if it idles for 15 s inside (the role has the
 * same setting; set here too for roles created without it).
 */
export async function asUser<T>(claims: UserClaims, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const db = sql();
  const release = await acquire(db.options.max);
  try {
    const result = await db.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true),
                      set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
                      set_config('idle_in_transaction_session_timeout', '15s', true)`;
      return await fn(tx);
    });
    return result as T;
  } finally {
    release();
  }
}

/** Closes the pool (tests and the local router on shutdown). */
export async function closeDb(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end({ timeout: 5 });
}

/** A Postgres array literal of validated UUIDs (they hold no quotes or commas). */
export const uuidArray = (ids: readonly string[] | undefined) => (ids ? `{${ids.join(',')}}` : null);
