// Row level security and grants: user B can read, change or delete none of user A's rows, in
// any table or through any RPC; anon sees nothing; only the service role reaches the worker RPCs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { asAnon, asServiceRole, asUser, createTestDatabase, createUser, type TestDatabase } from '../../scripts/test/db.ts';
import { createCampaign, makeOwner, type Owner, sqlError } from './fixtures.ts';

let db: TestDatabase;
let client: pg.Client;
let a: Owner;
let bId: string;
const ids: Record<string, string> = {};

const TABLES = [
  'telegram_accounts',
  'channels',
  'batches',
  'batch_channels',
  'templates',
  'campaigns',
  'deliveries',
  'audit_log',
];

beforeAll(async () => {
  db = await createTestDatabase();
  client = await db.connect();
  a = await makeOwner(db, client, 3, 'a');
  bId = await createUser(db);
  await asUser(client, a.userId, async (c) => {
    ids.batch = (await c.query(`insert into public.batches (name) values ('a-batch') returning id`)).rows[0].id;
    await c.query('select public.set_batch_channels($1, $2)', [ids.batch, a.channelIds]);
    ids.template = (await c.query(`insert into public.templates (name, text) values ('t', 'hi') returning id`)).rows[0].id;
    ids.campaign = await createCampaign(c, a);
    await c.query('select public.start_campaign($1)', [ids.campaign]);
  });
  ids.channel = a.channelIds[0]!;
  ids.account = a.accountId;
});
afterAll(async () => {
  await db.drop();
});

const snapshot = async () => {
  const out: Record<string, unknown> = {};
  for (const t of TABLES) {
    out[t] =
      (await client.query(`select md5(coalesce(string_agg(x::text, ',' order by x::text), '')) h from public.${t} x`)).rows[0].h;
  }
  return out;
};

describe('user B and user A', () => {
  it('B reads none of A’s rows in any table', async () => {
    await asUser(client, bId, async (c) => {
      for (const t of TABLES) {
        const r = await c.query(`select count(*)::int n from public.${t}`);
        expect({ t, n: r.rows[0].n }).toEqual({ t, n: 0 });
      }
    });
    // A sees its own
    await asUser(client, a.userId, async (c) => {
      for (const t of TABLES) {
        const r = await c.query(`select count(*)::int n from public.${t}`);
        expect({ t, some: r.rows[0].n > 0 }).toEqual({ t, some: true });
      }
    });
  });

  it('B updates and deletes nothing of A’s, directly or through RPCs', async () => {
    const before = await snapshot();
    await asUser(client, bId, async (c) => {
      for (
        const [t, id] of [['channels', ids.channel], ['batches', ids.batch], ['templates', ids.template], [
          'telegram_accounts',
          ids.account,
        ]]
      ) {
        const col = t === 'channels' ? 'title' : t === 'telegram_accounts' ? 'label' : 'name';
        expect((await c.query(`update public.${t} set ${col} = 'hacked' where id = $1`, [id])).rowCount).toBe(0);
        expect((await c.query(`delete from public.${t} where id = $1`, [id])).rowCount).toBe(0);
      }
      expect((await c.query(`delete from public.batch_channels where batch_id = $1`, [ids.batch])).rowCount).toBe(0);
    });
    for (const t of ['campaigns', 'deliveries', 'audit_log']) {
      const e = await sqlError(client, bId, (c) => c.query(`update public.${t} set created_at = now()`));
      expect(e.code).toBe('42501');
    }
    for (const fn of ['start_campaign', 'pause_campaign', 'resume_campaign', 'cancel_campaign', 'retry_failed_deliveries']) {
      const e = await sqlError(client, bId, (c) => c.query(`select public.${fn}($1)`, [ids.campaign]));
      expect({ fn, code: e.code }).toEqual({ fn, code: 'PT404' });
    }
    // B cannot aim a campaign, batch or membership at A's channels, template or account
    const uses = [
      (c: pg.ClientBase) =>
        c.query(`select public.create_campaign(p_name => 'x', p_channel_ids => $1::uuid[], p_message => '{"text":"x"}')`, [
          a.channelIds,
        ]),
      (c: pg.ClientBase) =>
        c.query(`select public.create_campaign(p_name => 'x', p_batch_ids => $1::uuid[], p_message => '{"text":"x"}')`, [[
          ids.batch,
        ]]),
      (c: pg.ClientBase) =>
        c.query(`select public.create_campaign(p_name => 'x', p_template_id => $1, p_channel_ids => '{}')`, [ids.template]),
      (c: pg.ClientBase) => c.query(`select public.set_batch_channels($1, '{}')`, [ids.batch]),
      (c: pg.ClientBase) =>
        c.query(`insert into public.batch_channels (batch_id, channel_id) values ($1, $2)`, [ids.batch, ids.channel]),
    ];
    for (const use of uses) {
      const e = await sqlError(client, bId, use);
      // 23505: the membership row exists (A's); B's copy is refused before its foreign keys run
      expect(['PT404', 'PT422', '23503', '23505', '42501']).toContain(e.code);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('anon and the service role', () => {
  it('anon reads nothing and calls no RPC', async () => {
    for (const t of TABLES) {
      await expect(asAnon(client, (c) => c.query(`select 1 from public.${t}`)), t).rejects.toMatchObject({ code: '42501' });
    }
    for (const call of [`select public.start_campaign('${ids.campaign}')`, `select public.import_channels('{@abcde}')`]) {
      await expect(asAnon(client, (c) => c.query(call)), call).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('only the service role may call the worker RPCs', async () => {
    const calls = [
      `select * from public.worker_take(0, '[]')`,
      `select public.worker_record('[]')`,
      `select public.worker_flood_wait('${ids.account}', 1)`,
      `select public.worker_resume_due('${ids.account}')`,
      `select public.worker_account_status('${ids.account}', 'revoked', 'x')`,
      `select public.worker_set_channel_peers('[]')`,
      `select public.worker_account_reachable('${ids.account}', null)`,
    ];
    for (const call of calls) {
      await expect(asUser(client, a.userId, (c) => c.query(call)), call).rejects.toMatchObject({ code: '42501' });
      await expect(asAnon(client, (c) => c.query(call)), call).rejects.toMatchObject({ code: '42501' });
      await asServiceRole(client, (c) => c.query(call), { rollback: true });
    }
    // nor the internals the RPCs are built on
    const internals = await client.query(`select p.oid::regprocedure::text sig from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'private' and p.proname <> 'require_user'`);
    expect(internals.rowCount).toBeGreaterThan(5);
    for (const { sig } of internals.rows) {
      const r = await client.query(`select has_function_privilege('authenticated', $1, 'execute') ok`, [sig]);
      expect({ sig, ok: r.rows[0].ok }).toEqual({ sig, ok: false });
    }
  });

  it('no API role may broadcast on a realtime topic itself (only the database’s triggers do)', async () => {
    for (const role of ['anon', 'authenticated']) {
      const r = await client.query(
        `select has_function_privilege($1, 'realtime.send(jsonb, text, text, boolean)', 'execute') ok`,
        [role],
      );
      expect({ role, ok: r.rows[0].ok }).toEqual({ role, ok: false });
    }
  });

  it('no public table is readable by anon, and none is left without RLS', async () => {
    const r = await client.query(`select c.relname, c.relrowsecurity,
        has_table_privilege('anon', c.oid, 'select') anon_select
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p')`);
    for (const row of r.rows) expect(row).toMatchObject({ relrowsecurity: true, anon_select: false });
  });
});
