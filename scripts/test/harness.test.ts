import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationList, pushMigrations, REPO_ROOT } from '../lib/migrate.ts';
import { asAnon, asServiceRole, asUser, createTestDatabase, createUser, type TestDatabase } from './db.ts';

const localMigrations = readdirSync(`${REPO_ROOT}supabase/migrations`)
  .filter((f) => /^\d+_.+\.sql$/.test(f))
  .map((f) => f.split('_')[0])
  .sort();

describe('test harness', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('clones a database that has the pgboss schema', async () => {
    const c = await db.connect();
    const { rows } = await c.query('select version from pgboss.version');
    expect(rows).toHaveLength(1);
    expect(rows[0].version).toBeGreaterThan(0);
  });

  it('connects as a postgres role that is not a superuser', async () => {
    const c = await db.connect();
    const { rows } = await c.query(
      `select current_user as who, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb
         from pg_roles where rolname = current_user`,
    );
    expect(rows[0]).toEqual({ who: 'postgres', rolsuper: false, rolbypassrls: true, rolcreaterole: true, rolcreatedb: true });
  });

  it('shows every local migration as applied, and a second push is a no-op', async () => {
    const { rows, output } = await migrationList(db.url);
    expect(rows.map((r) => r.local).sort(), output).toEqual(localMigrations);
    for (const r of rows) expect(r.remote, output).toBe(r.local);
    const again = await pushMigrations(db.url);
    expect(again).toMatch(/Remote database is up to date/);
    expect(again).not.toMatch(/Applying migration/);
  });

  it('acts as a user, the service role and anon like PostgREST', async () => {
    const id = await createUser(db, 'someone@example.test');
    const c = await db.connect();
    const me = await asUser(
      c,
      id,
      async (t) =>
        (await t.query(`select auth.uid() as uid, auth.role() as role, current_user as who,
                             auth.jwt() ->> 'aud' as aud, realtime.topic() as topic`)).rows[0],
    );
    expect(me).toEqual({ uid: id, role: 'authenticated', who: 'authenticated', aud: 'authenticated', topic: null });
    expect(await asServiceRole(c, async (t) => (await t.query('select auth.role() as r, current_user as u')).rows[0]))
      .toEqual({ r: 'service_role', u: 'service_role' });
    expect(await asAnon(c, async (t) => (await t.query('select auth.uid() as id, current_user as u')).rows[0]))
      .toEqual({ id: null, u: 'anon' });
    // Settings are transaction-local: back to postgres with no claims afterwards.
    expect((await c.query(`select current_user as u, auth.uid() as id`)).rows[0]).toEqual({ u: 'postgres', id: null });
  });

  it('has the realtime stand-ins', async () => {
    const c = await db.connect();
    await c.query(`select realtime.send('{"a":1}'::jsonb, 'ev', 'topic:1', true)`);
    const { rows } = await c.query('select topic, event, payload, private, extension from realtime.messages');
    expect(rows).toEqual([{ topic: 'topic:1', event: 'ev', payload: { a: 1 }, private: true, extension: 'broadcast' }]);
    const pub = await c.query(`select pubowner::regrole::text as owner from pg_publication where pubname = 'supabase_realtime'`);
    expect(pub.rows).toEqual([{ owner: 'postgres' }]);
  });
});
