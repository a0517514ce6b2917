// Postgres access as the calling user, the way PostgREST does it: one transaction per request
// with role `authenticated` and the verified JWT claims set transaction-locally, so RLS and the
// RPCs see auth.uid() and decide. prepare:false because Supabase's transaction pooler (port 6543)
// cannot keep prepared statements across transactions.
import postgres from 'postgres';
import { env } from './env.ts';
import type { UserClaims } from './auth.ts';

export type Tx = postgres.TransactionSql;
export type Row = postgres.Row;
/** A piece of SQL built with tx`...`, spliced into another query. */
export type Fragment = postgres.Fragment;

let pool: postgres.Sql | undefined;

function sql(): postgres.Sql {
  if (pool) return pool;
  const url = env('SUPABASE_DB_URL');
  if (!url) throw new Error('SUPABASE_DB_URL is not set');
  pool = postgres(url, {
    prepare: false,
    max: Number(env('DB_POOL_SIZE') ?? 5),
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'edge-functions' },
  });
  return pool;
}

export async function asUser<T>(claims: UserClaims, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const result = await sql().begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return await fn(tx);
  });
  return result as T;
}

/** Closes the pool (tests and the local router on shutdown). */
export async function closeDb(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end({ timeout: 5 });
}

/** A Postgres array literal of validated UUIDs (they hold no quotes or commas). */
export const uuidArray = (ids: readonly string[] | undefined) => (ids ? `{${ids.join(',')}}` : null);
