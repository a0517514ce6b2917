// Tenant isolation in the database, tried the way a hostile user of Supabase's Data API would:
// as role authenticated with their own claims, straight SQL, no functions in between.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser, createTestDatabase, type TestDatabase, type TxClient } from '../../scripts/test/db.ts';
import { createCampaign, makeOwner, type Owner, sqlError } from './fixtures.ts';

let db: TestDatabase;
let client: pg.Client;
let a: Owner;
let b: Owner;

beforeAll(async () => {
  db = await createTestDatabase();
  client = await db.connect();
  a = await makeOwner(db, client, 3, 'a');
  b = await makeOwner(db, client, 3, 'b');
});
afterAll(async () => {
  await db?.drop();
});

const asA = <T>(fn: (c: TxClient) => Promise<T>) => asUser(client, a.userId, fn);
const asB = <T>(fn: (c: TxClient) => Promise<T>) => asUser(client, b.userId, fn);

describe('what a client may write', () => {
  it('ids, owners and timestamps are never client-writable (42501), the writable columns are', async () => {
    const refused = [
      `insert into public.templates (id, name, text) values (gen_random_uuid(), 't', 'x')`,
      `insert into public.templates (name, text, created_at) values ('t', 'x', '2000-01-01')`,
      `insert into public.templates (name, text, owner_id) values ('t', 'x', '${b.userId}')`,
      `insert into public.batches (id, name) values (gen_random_uuid(), 'b')`,
      `insert into public.batches (name, channel_count) values ('b', 5)`,
      `insert into public.channels (peer, owner_id) values ('@some_peer', '${b.userId}')`,
      `insert into public.channels (peer, created_at) values ('@some_peer', now())`,
      `insert into public.batch_channels (batch_id, channel_id, owner_id) values (gen_random_uuid(), gen_random_uuid(), '${b.userId}')`,
      `update public.templates set created_at = now()`,
      `update public.batches set channel_count = 0`,
      `update public.batch_channels set batch_id = batch_id`,
    ];
    for (const sql of refused) {
      const e = await sqlError(client, b.userId, (c) => c.query(sql));
      expect({ sql, code: e.code }).toEqual({ sql, code: '42501' });
    }
    await asB(async (c) => {
      const t = await c.query(
        `insert into public.templates (name, text, parse_mode, silent, link_preview) values ('ok', 'x', 'html', true, false) returning owner_id`,
      );
      expect(t.rows[0].owner_id).toBe(b.userId);
      const bt = await c.query(`insert into public.batches (name) values ('ok') returning id, channel_count`);
      await c.query(`insert into public.batch_channels (batch_id, channel_id) values ($1, $2)`, [bt.rows[0].id, b.channelIds[0]]);
      expect((await c.query(`select channel_count from public.batches where id = $1`, [bt.rows[0].id])).rows[0].channel_count)
        .toBe(1);
    });
  });

  it("a membership insert answers the same whether or not A's channel is in A's batch", async () => {
    const batch = await asA(async (c) => {
      const r = await c.query(`insert into public.batches (name) values ('secret') returning id`);
      await c.query(`insert into public.batch_channels (batch_id, channel_id) values ($1, $2)`, [r.rows[0].id, a.channelIds[0]]);
      return r.rows[0].id as string;
    });
    const member = await sqlError(
      client,
      b.userId,
      (c) => c.query(`insert into public.batch_channels (batch_id, channel_id) values ($1, $2)`, [batch, a.channelIds[0]]),
    );
    const notMember = await sqlError(
      client,
      b.userId,
      (c) => c.query(`insert into public.batch_channels (batch_id, channel_id) values ($1, $2)`, [batch, a.channelIds[1]]),
    );
    const nothing = await sqlError(
      client,
      b.userId,
      (c) => c.query(`insert into public.batch_channels (batch_id, channel_id) values (gen_random_uuid(), gen_random_uuid())`),
    );
    expect(member).toEqual(notMember);
    expect(member).toEqual(nothing);
    expect(member.code).toBe('23503');
  });

  it('audit ids are random UUIDs ordered by time: nothing counts the changes of other tenants', async () => {
    const ids: string[] = [];
    for (const n of [1, 2]) {
      ids.push(
        await asB(async (c) => {
          await c.query(`insert into public.templates (name, text) values ($1, 'x')`, [`audit ${n}`]);
          return (await c.query(
            `select id from public.audit_log where entity = 'templates' order by created_at desc, id desc limit 1`,
          )).rows[0].id;
        }),
      );
      // another tenant writes in between
      await asA((c) => c.query(`insert into public.templates (name, text) values ($1, 'x')`, [`between ${n}`]));
    }
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ids[0]! < ids[1]!).toBe(true); // still sorts by when it was written
    // what lies between B's two ids: only B's rows are visible, and the ids carry no counter
    const between = await asB((c) => c.query(`select count(*)::int n from public.audit_log where id > $1 and id < $2`, ids));
    expect(between.rows[0].n).toBe(0);
  });
});

describe('Realtime', () => {
  it("after a broadcast of B's own campaign, B's transaction reads only that topic's messages", async () => {
    const aCampaign = await asA((c) => createCampaign(c, a));
    await asA((c) => c.query('select public.cancel_campaign($1)', [aCampaign])); // A's progress rows exist
    const bCampaign = await asB((c) => createCampaign(c, b));
    const seen = await asB(async (c) => {
      await c.query('select public.cancel_campaign($1)', [bCampaign]); // sets realtime.topic for the transaction
      return (await c.query(`select distinct topic from realtime.messages`)).rows.map((r) => r.topic);
    });
    expect(seen).toEqual([`campaign:${bCampaign}`]);
    const all = await client.query(`select count(*)::int n from realtime.messages where topic = $1`, [`campaign:${aCampaign}`]);
    expect(all.rows[0].n).toBeGreaterThan(0);
  });
});

describe('erasure', () => {
  it('a user with a running campaign can be deleted: its jobs are cancelled, every row and job goes', async () => {
    const u = await makeOwner(db, client, 5, 'erase');
    const id = await asUser(client, u.userId, (c) => createCampaign(c, u));
    await asUser(client, u.userId, (c) => c.query('select public.start_campaign($1)', [id]));
    const queue = `delivery.${u.accountId}`;
    expect((await client.query(`select count(*)::int n from pgboss.job where name = $1`, [queue])).rows[0].n).toBe(5);
    // an owner deleting the account is still refused while it has work
    const e = await sqlError(
      client,
      u.userId,
      (c) => c.query('delete from public.telegram_accounts where id = $1', [u.accountId]),
    );
    expect(e.code).toBe('PT409');

    const admin = await db.connectAdmin();
    await admin.query('delete from auth.users where id = $1', [u.userId]);
    for (const t of ['telegram_accounts', 'channels', 'campaigns', 'deliveries', 'audit_log']) {
      const r = await client.query(`select count(*)::int n from public.${t} where owner_id = $1`, [u.userId]);
      expect({ t, n: r.rows[0].n }).toEqual({ t, n: 0 });
    }
    expect((await client.query(`select count(*)::int n from pgboss.queue where name = $1`, [queue])).rows[0].n).toBe(0);
    expect((await client.query(`select count(*)::int n from pgboss.job where name = $1`, [queue])).rows[0].n).toBe(0);
  });
});

describe('render_template', () => {
  const render = async (text: string, value: string, mode: string) =>
    (await client.query(`select text from public.render_template($1, jsonb_build_object('v', $2::text), $3)`, [
      text,
      value,
      mode,
    ])).rows[0].text as string;

  it("escapes HTML including ' (Telegram reads &#39;)", async () => {
    expect(await render(`<a href='{{v}}'>x</a>`, `' onclick='x" <b>&`, 'html'))
      .toBe(`<a href='&#39; onclick=&#39;x&quot; &lt;b&gt;&amp;'>x</a>`);
  });

  it("makes Markdown markers in values inert for the worker's dialect, leaves single underscores alone", async () => {
    const zw = '\u200b';
    expect(await render('Hi {{v}}!', '**bold** [x](http://evil) `code`', 'markdown'))
      .toBe(`Hi ${zw}*${zw}*bold*${zw}* [x]${zw}(http://evil) \u02cbcode\u02cb!`);
    expect(await render('*{{v}}*', '*', 'markdown')).toBe(`*${zw}*${zw}*`);
    expect(await render('[{{v}}](http://x)', 'john_doe', 'markdown')).toBe('[john_doe](http://x)');
    expect(await render('{{v}}', '**x**', 'plain')).toBe('**x**');
  });
});

describe('import', () => {
  it('reports bad items, duplicates and created ones from one statement', async () => {
    const r = await asB((c) =>
      c.query(`select public.import_channels($1) r`, [['@import_one', 't.me/Import_One', '', 'bad peer!', '@import_two', null]])
    );
    expect(r.rows[0].r).toMatchObject({
      created: 2,
      duplicates: 1,
      errors: [
        { index: 2, peer: '', message: 'peer is empty' },
        { index: 3, peer: 'bad peer!', message: expect.stringMatching(/^not a Telegram peer/) },
        { index: 5, peer: null, message: 'peer is empty' },
      ],
    });
  });
});

describe('quotas', () => {
  let q: Owner;
  beforeAll(async () => {
    q = await makeOwner(db, client, 3, 'quota');
  });
  const limit = (name: string, value: number) =>
    client.query(
      `insert into private.quota_overrides (owner_id, name, value) values ($1, $2, $3)
     on conflict (owner_id, name) do update set value = excluded.value`,
      [q.userId, name, value],
    );
  const asQ = <T>(fn: (c: TxClient) => Promise<T>) => asUser(client, q.userId, fn);
  const refused = async (quota: string, fn: (c: TxClient) => Promise<unknown>) => {
    const e = await sqlError(client, q.userId, fn);
    expect(e.code).toBe('PT422');
    expect(e.message).toContain(`quota "${quota}"`);
    expect(JSON.parse(e.detail!)).toMatchObject({ quota });
    return e;
  };

  it('has documented defaults above what the benchmarks and the fault suite create', async () => {
    const r = await client.query(`select name, value from private.quota_limits order by name`);
    expect(Object.fromEntries(r.rows.map((x) => [x.name, x.value]))).toEqual({
      channels: 100000,
      batches: 1000,
      batch_channels: 10000,
      batch_members: 200000,
      templates: 1000,
      draft_campaigns: 100,
      draft_deliveries: 500000,
      pending_deliveries: 200000,
      pending_tests: 5,
      pending_tests_per_account: 3,
      storage_objects: 1000,
      storage_bytes: 1073741824,
      webhook_endpoints: 10,
      webhook_pending_tests: 5,
      login_failures: 20,
      login_failures_per_account: 5,
      login_starts: 30,
      reach_refreshes: 20,
      action_requests: 60,
    });
  });

  it('channels: one insert, a bulk insert or an import past the limit is refused whole', async () => {
    await limit('channels', 5);
    await asQ((c) => c.query(`insert into public.channels (peer) values ('@quota_ch_4')`));
    const e = await refused(
      'channels',
      (c) => c.query(`insert into public.channels (peer) values ('@quota_ch_5'), ('@quota_ch_6')`),
    );
    expect(JSON.parse(e.detail!)).toEqual({ field: 'peer', quota: 'channels', limit: 5 });
    await refused('channels', (c) => c.query(`select public.import_channels('{@quota_ch_7,@quota_ch_8}')`));
    // duplicates add nothing, so an import of known peers still works at the limit
    await asQ((c) => c.query(`insert into public.channels (peer) values ('@quota_ch_5')`));
    await asQ((c) => c.query(`select public.import_channels('{@quota_ch_5}')`));
    expect((await client.query(`select count(*)::int n from public.channels where owner_id = $1`, [q.userId])).rows[0].n).toBe(5);
  });

  it('batches, members per batch and per user, templates', async () => {
    await limit('batches', 2);
    await limit('batch_channels', 2);
    await limit('batch_members', 3);
    await limit('templates', 1);
    const [b1, b2] = await asQ(async (c) =>
      (await c.query(`insert into public.batches (name) values ('q1'), ('q2') returning id`)).rows.map((r) => r.id as string)
    );
    await refused('batches', (c) => c.query(`insert into public.batches (name) values ('q3')`));
    await refused('batch_channels', (c) => c.query('select public.set_batch_channels($1, $2)', [b1, q.channelIds]));
    await refused('batch_channels', (c) =>
      c.query(
        `insert into public.batch_channels (batch_id, channel_id) select $1, unnest($2::uuid[])`,
        [b1, q.channelIds],
      ));
    await asQ((c) => c.query('select public.set_batch_channels($1, $2)', [b1, q.channelIds.slice(0, 2)]));
    await refused('batch_members', (c) => c.query('select public.set_batch_channels($1, $2)', [b2, q.channelIds.slice(0, 2)]));
    await asQ((c) => c.query('select public.set_batch_channels($1, $2)', [b2, q.channelIds.slice(2)]));
    // deleting a channel updates the counts, which frees room
    await asQ((c) => c.query('delete from public.channels where id = $1', [q.channelIds[0]]));
    const counts = await client.query(`select sum(channel_count)::int n from public.batches where owner_id = $1`, [q.userId]);
    expect(counts.rows[0].n).toBe(2);
    await asQ((c) => c.query(`insert into public.templates (name, text) values ('one', 'x')`));
    await refused('templates', (c) => c.query(`insert into public.templates (name, text) values ('two', 'x')`));
  });

  it('campaigns in draft, the deliveries they hold, and deliveries pending across started campaigns', async () => {
    const targets = q.channelIds.slice(1); // 2 channels left
    const make = (c: TxClient) =>
      c.query(
        `select (public.create_campaign(p_name => 'q', p_channel_ids => $1::uuid[],
      p_message => '{"text":"x"}')).id`,
        [targets],
      ).then((r) => r.rows[0].id as string);
    await limit('draft_campaigns', 2);
    await limit('draft_deliveries', 4);
    await limit('pending_deliveries', 3);
    const first = await asQ(make);
    const second = await asQ(make);
    await refused('draft_campaigns', make);
    await limit('draft_campaigns', 10);
    await refused('draft_deliveries', make);
    await asQ((c) => c.query('select public.start_campaign($1)', [first]));
    // 2 pending + 2 more would be 4 > 3
    await refused('pending_deliveries', (c) => c.query('select public.start_campaign($1)', [second]));
    await asQ((c) => c.query('select public.cancel_campaign($1)', [first]));
    await asQ((c) => c.query('select public.start_campaign($1)', [second]));
  });
});
