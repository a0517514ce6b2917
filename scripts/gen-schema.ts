// `npm run gen:schema`: records new migrations in supabase/migrations.sha256 (refusing if a
// recorded one was edited or deleted), then writes supabase/schema.sql, the schema after every
// migration, from a throwaway embedded Postgres. scripts/test/schema.test.ts checks both.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkFlags } from './lib/cli.ts';
import { startEmbeddedPostgres } from './lib/embedded-postgres.ts';
import { applyBaseline, asPostgresRole, pushMigrations, withDatabase } from './lib/migrate.ts';
import { renderSchemaFile, SCHEMA_FILE, updateManifest } from './lib/schema-dump.ts';

const USAGE = `Usage: npm run gen:schema

Records new migrations in supabase/migrations.sha256 and regenerates supabase/schema.sql
(the database after every migration). Fails if a recorded migration was edited or deleted.`;

async function main(): Promise<void> {
  const added = updateManifest();
  console.log(
    added.length ? `recorded ${added.join(', ')} in supabase/migrations.sha256` : 'supabase/migrations.sha256: nothing new',
  );
  const dir = await mkdtemp(join(tmpdir(), 'tg-gen-schema-'));
  const pg = await startEmbeddedPostgres({ dataDir: dir, persistent: false, fast: true });
  try {
    const admin = withDatabase(pg.adminUrl, 'postgres');
    const db = `tg_gen_schema_${process.pid}`;
    await applyBaseline(admin, db);
    await pushMigrations(asPostgresRole(withDatabase(admin, db)));
    await writeFile(SCHEMA_FILE, await renderSchemaFile(admin, db));
    console.log(`wrote ${SCHEMA_FILE}`);
  } finally {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (checkFlags('npm run gen:schema', USAGE, process.argv.slice(2), (args) => parseArgs({ args, options: {}, strict: true }))) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
