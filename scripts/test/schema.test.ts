// supabase/schema.sql is what the migrations make, and committed migrations are never edited
// (supabase/migrations.sha256 holds the hash of each; `npm run gen:schema` records new ones).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestProblems, renderSchemaFile, SCHEMA_FILE } from '../lib/schema-dump.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

describe('schema and migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('no committed migration was edited or deleted, and every migration is recorded', () => {
    // A new migration is recorded by `npm run gen:schema`; an edited one is refused there too.
    expect(manifestProblems()).toEqual({ changed: [], deleted: [], unrecorded: [] });
  });

  it('supabase/schema.sql is the schema the migrations make (regenerate: npm run gen:schema)', async () => {
    const expected = await renderSchemaFile(process.env.TEST_PG_ADMIN_URL!, db.name);
    expect(readFileSync(SCHEMA_FILE, 'utf8'), 'supabase/schema.sql is stale: run npm run gen:schema').toBe(expected);
  });
});
