// Per-test databases cloned from the migrated template; the role and user helpers tests use
// live in scripts/lib/database.ts and are re-exported here.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cloneDatabase, dropDatabase } from '../lib/database.ts';

export {
  asAnon,
  asRole,
  type AsRoleOptions,
  asServiceRole,
  asUser,
  createCampaignAs,
  createUser,
  type NewUser,
  type Queryable,
  type TxClient,
  withClient,
} from '../lib/database.ts';

export interface TestDatabase {
  name: string;
  /** As role `postgres` (not a superuser), like migrations/functions/worker on hosted Supabase. */
  url: string;
  /** As the cluster superuser `supabase_admin`; for fixtures the app roles may not write. */
  adminUrl: string;
  /** A new connected pg.Client as `postgres`; closed by drop() if you forget. */
  connect(): Promise<pg.Client>;
  /** A new connected pg.Client as the superuser; closed by drop() if you forget. */
  connectAdmin(): Promise<pg.Client>;
  /** Closes clients from connect*(), then drops the database (force-disconnecting others). */
  drop(): Promise<void>;
}

function env(name: 'TEST_PG_ADMIN_URL' | 'TEST_TEMPLATE_DB'): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests via \`npm test\` or vitest (its globalSetup starts Postgres)`);
  return v;
}

export async function createTestDatabase(opts: { prefix?: string } = {}): Promise<TestDatabase> {
  const adminMaint = env('TEST_PG_ADMIN_URL');
  const name = `${opts.prefix ?? 'tg_test'}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const { url, adminUrl } = await cloneDatabase(adminMaint, env('TEST_TEMPLATE_DB'), name);
  const clients = new Set<pg.Client>();
  const open = async (connectionString: string) => {
    const c = new pg.Client({ connectionString });
    c.on('error', () => {}); // a force-dropped DB kills its connections; don't crash the worker
    await c.connect();
    clients.add(c);
    return c;
  };
  return {
    name,
    url,
    adminUrl,
    connect: () => open(url),
    connectAdmin: () => open(adminUrl),
    async drop() {
      await Promise.all([...clients].map((c) => c.end().catch(() => {})));
      clients.clear();
      await dropDatabase(adminMaint, name);
    },
  };
}
