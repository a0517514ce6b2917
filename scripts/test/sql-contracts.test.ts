// The SQL and contracts/ agree: each state list a check constraint allows is the zod enum the
// API and the worker use, and the pg-boss schema the migrations install is the version the
// installed pg-boss expects. Both sides are read, never copied into the test.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountStatusSchema } from '../../contracts/api/accounts.ts';
import { deliveryStateSchema, postActionKindSchema, postActionSchema } from '../../contracts/api/campaigns.ts';
import { campaignStateSchema, pauseReasonSchema } from '../../contracts/realtime.ts';
import { REPO_ROOT } from '../lib/migrate.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

describe('SQL and contracts/', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** The values a single-column `check (col in (...))` constraint allows. */
  async function allowedValues(table: string, column: string): Promise<string[]> {
    const c = await db.connect();
    const { rows } = await c.query<{ def: string }>(
      `select pg_get_constraintdef(k.oid) as def from pg_constraint k
         join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
        where k.conrelid = $1::regclass and k.contype = 'c' and cardinality(k.conkey) = 1 and a.attname = $2`,
      [table, column],
    );
    expect(rows, `one check constraint on ${table}.${column}`).toHaveLength(1);
    return [...rows[0]!.def.matchAll(/'([^']*)'::text/g)].map((m) => m[1]!).sort();
  }

  it.each([
    ['public.campaigns', 'state', campaignStateSchema.options],
    ['public.campaigns', 'pause_reason', pauseReasonSchema.options],
    ['public.deliveries', 'state', deliveryStateSchema.options],
    ['public.telegram_accounts', 'status', accountStatusSchema.options],
    ['public.delivery_actions', 'kind', postActionKindSchema.options],
    ['public.delivery_actions', 'state', postActionSchema.shape.state.options],
  ])('%s.%s allows exactly the values of the zod enum in contracts/', async (table, column, zodValues) => {
    expect(await allowedValues(table, column)).toEqual([...zodValues].sort());
  });

  it('the pg-boss schema the migrations install is the installed pg-boss schema version', async () => {
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}node_modules/pg-boss/package.json`, 'utf8')) as {
      pgboss: { schema: number };
    };
    const c = await db.connect();
    const { rows } = await c.query<{ version: number }>('select version from pgboss.version');
    expect(rows).toEqual([{ version: pkg.pgboss.schema }]);
  });
});
