// One Postgres for a whole test run: baseline + real migrations (via the CLI, as role postgres)
// applied once to tg_template, which every test then clones in milliseconds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../lib/embedded-postgres.ts';
import { applyBaseline, asPostgresRole, pushMigrations, quoteIdent, withDatabase } from '../lib/migrate.ts';

export const TEMPLATE_DB = 'tg_template';

export interface TestCluster {
  /** Superuser URL to the `postgres` maintenance database. */
  adminUrl: string;
  templateDb: string;
  /** TEST_PG_ADMIN_URL and TEST_TEMPLATE_DB, for child processes and vitest workers. */
  env: { TEST_PG_ADMIN_URL: string; TEST_TEMPLATE_DB: string };
  /** Output of `supabase db push` for the template. */
  pushOutput: string;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: { log?: (msg: string) => void } = {}): Promise<TestCluster> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  const dataDir = await mkdtemp(join(tmpdir(), 'tg-test-pg-'));
  const started = await startEmbeddedPostgres({ dataDir, persistent: false, fast: true });
  const server = {
    ...started,
    stop: async () => {
      await started.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    log(`postgres ${server.external ? '(DATABASE_URL)' : `on port ${server.port}`} up in ${Date.now() - t0} ms`);
    const admin = new pg.Client({ connectionString: withDatabase(server.adminUrl, 'postgres') });
    await admin.connect();
    try {
      // A reused external cluster may hold an old template: rebuild it from scratch.
      const old = await admin.query('select 1 from pg_database where datname = $1', [TEMPLATE_DB]);
      if (old.rowCount) {
        await admin.query(`alter database ${quoteIdent(TEMPLATE_DB)} is_template false`);
        await admin.query(`drop database ${quoteIdent(TEMPLATE_DB)} with (force)`);
      }
    } finally {
      await admin.end();
    }
    await applyBaseline(server.adminUrl, TEMPLATE_DB);
    const pushOutput = await pushMigrations(asPostgresRole(withDatabase(server.adminUrl, TEMPLATE_DB)));
    log(`template ${TEMPLATE_DB} migrated in ${Date.now() - t0} ms`);

    const admin2 = new pg.Client({ connectionString: withDatabase(server.adminUrl, 'postgres') });
    await admin2.connect();
    try {
      // No one may stay connected to a template, or CREATE DATABASE ... TEMPLATE fails.
      await admin2.query(`alter database ${quoteIdent(TEMPLATE_DB)} is_template true allow_connections false`);
      await admin2.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [TEMPLATE_DB]);
    } finally {
      await admin2.end();
    }
    return {
      adminUrl: withDatabase(server.adminUrl, 'postgres'),
      templateDb: TEMPLATE_DB,
      env: { TEST_PG_ADMIN_URL: withDatabase(server.adminUrl, 'postgres'), TEST_TEMPLATE_DB: TEMPLATE_DB },
      pushOutput,
      stop: () => server.stop(),
    };
  } catch (err) {
    await server.stop().catch(() => {});
    throw err;
  }
}
