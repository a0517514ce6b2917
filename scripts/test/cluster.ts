// One Postgres for a whole test run: baseline + real migrations (via the CLI, as role postgres)
// applied once to tg_template, which every test then clones in milliseconds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../lib/embedded-postgres.ts';
import { buildTemplate } from '../lib/database.ts';
import { withDatabase } from '../lib/migrate.ts';

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
    const pushOutput = await buildTemplate(withDatabase(server.adminUrl, 'postgres'), TEMPLATE_DB);
    log(`template ${TEMPLATE_DB} migrated in ${Date.now() - t0} ms`);
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
