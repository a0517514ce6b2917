// The campaign RPCs against the real migrations: jobs identical to boss.send(), state machine
// errors, all-or-nothing creation, and constraints enforced by the database itself.
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { PgBoss } from 'pg-boss';
import { sleep } from '../../contracts/time.ts';
import { asUser } from '../../scripts/test/db.ts';
import { createCampaign, makeOwner, sqlError, useOwnerDatabase } from './fixtures.ts';

const t = useOwnerDatabase(5);

const queueOf = (accountId: string) => `delivery.${accountId}`;

describe('start_campaign', () => {
  it('makes exactly one job per pending delivery, equal to boss.send() on every column but ids and times', async () => {
    const campaignId = await asUser(t.client, t.owner.userId, async (c) => {
      const id = await createCampaign(c, t.owner);
      await c.query('select public.start_campaign($1)', [id]);
      return id;
    });
    const jobs = await t.client.query(
      `select j.* from pgboss.job j join public.deliveries d on d.job_id = j.id where d.campaign_id = $1`,
      [campaignId],
    );
    const deliveries = await t.client.query(`select id from public.deliveries where campaign_id = $1`, [campaignId]);
    expect(jobs.rowCount).toBe(5);
    expect(new Set(jobs.rows.map((j) => j.data.deliveryId))).toEqual(new Set(deliveries.rows.map((d) => d.id)));

    const boss = new PgBoss({ connectionString: t.db.url, schema: 'pgboss', supervise: false, schedule: false, migrate: false });
    await boss.start();
    try {
      const sample = jobs.rows[0];
      const sentId = await boss.send(queueOf(t.owner.accountId), sample.data, { group: { id: campaignId } });
      const sent = (await t.client.query('select * from pgboss.job where id = $1', [sentId])).rows[0];
      const ignored = new Set(['id', 'created_on', 'start_after', 'keep_until']);
      const columns = Object.keys(sent).filter((k) => !ignored.has(k));
      expect(columns.length).toBeGreaterThan(20);
      for (const col of columns) expect({ col, value: sample[col] }).toEqual({ col, value: sent[col] });
      // keep_until - start_after is the queue's retention in both
      const span = (j: { keep_until: Date; start_after: Date }) => j.keep_until.getTime() - j.start_after.getTime();
      expect(span(sample)).toBe(span(sent));
      await boss.deleteJob(queueOf(t.owner.accountId), sentId!);

      // a real pg-boss worker fetches the RPC's jobs
      const fetched = await boss.fetch(queueOf(t.owner.accountId), { batchSize: 10 });
      expect(fetched.map((j) => j.id).sort()).toEqual(jobs.rows.map((j) => j.id).sort());
    } finally {
      await boss.stop({ graceful: false });
    }
  });

  it('wakes a listening pg-boss worker by NOTIFY, well before its polling interval', async () => {
    const fresh = await makeOwner(t.db, t.client, 3, 'notify');
    const boss = new PgBoss({
      connectionString: t.db.url,
      schema: 'pgboss',
      supervise: false,
      schedule: false,
      migrate: false,
      useListenNotify: true,
    });
    await boss.start();
    try {
      let startedAt = 0;
      const picked = new Promise<number>((resolve) => {
        void boss.work(queueOf(fresh.accountId), { pollingIntervalSeconds: 30, batchSize: 10 }, async () => {
          resolve(Date.now() - startedAt);
        });
      });
      await sleep(500); // let the worker settle into its long poll
      const campaignId = await asUser(t.client, fresh.userId, (c) => createCampaign(c, fresh));
      startedAt = Date.now();
      await asUser(t.client, fresh.userId, (c) => c.query('select public.start_campaign($1)', [campaignId]));
      const pickupMs = await picked;
      console.log(`pickup after start_campaign via NOTIFY: ${pickupMs} ms (polling interval 30 s)`);
      expect(pickupMs).toBeLessThan(5_000);
    } finally {
      await boss.stop({ graceful: false });
    }
  });
});

describe('state machine', () => {
  it('refuses every illegal transition with 409 naming both states', async () => {
    const fresh = await makeOwner(t.db, t.client, 2, 'sm');
    const id = await asUser(t.client, fresh.userId, (c) => createCampaign(c, fresh));
    const call = (fn: string) => (c: pg.ClientBase) => c.query(`select public.${fn}($1)`, [id]);
    const expectIllegal = async (fn: string, from: string, to: string) => {
      const e = await sqlError(t.client, fresh.userId, call(fn));
      expect(e.code).toBe('PT409');
      expect(e.message).toContain(from);
      expect(e.message).toContain(to);
      expect(JSON.parse(e.detail!)).toMatchObject({ from, to });
    };
    // draft
    await expectIllegal('pause_campaign', 'draft', 'paused');
    await expectIllegal('resume_campaign', 'draft', 'running');
    await expectIllegal('retry_failed_deliveries', 'draft', 'running');
    // running
    await asUser(t.client, fresh.userId, call('start_campaign'));
    await expectIllegal('start_campaign', 'running', 'running');
    await expectIllegal('resume_campaign', 'running', 'running');
    // paused
    await asUser(t.client, fresh.userId, call('pause_campaign'));
    await expectIllegal('pause_campaign', 'paused', 'paused');
    await expectIllegal('start_campaign', 'paused', 'running');
    // cancelled is final
    await asUser(t.client, fresh.userId, call('cancel_campaign'));
    for (
      const [fn, to] of [['start_campaign', 'running'], ['pause_campaign', 'paused'], ['resume_campaign', 'running'], [
        'cancel_campaign',
        'cancelled',
      ], ['retry_failed_deliveries', 'running']] as const
    ) {
      await expectIllegal(fn, 'cancelled', to);
    }
    const counts = await t.client.query(`select state, pending_count, cancelled_count from public.campaigns where id = $1`, [id]);
    expect(counts.rows[0]).toEqual({ state: 'cancelled', pending_count: 0, cancelled_count: 2 });
    const live = await t.client.query(
      `select count(*)::int n from pgboss.job where group_id = $1 and state in ('created','retry','active')`,
      [id],
    );
    expect(live.rows[0].n).toBe(0);
  });

  it('answers 404 for a campaign that does not exist', async () => {
    const e = await sqlError(
      t.client,
      t.owner.userId,
      (c) => c.query('select public.start_campaign($1)', ['00000000-0000-0000-0000-000000000001']),
    );
    expect(e.code).toBe('PT404');
  });
});

describe('all or nothing', () => {
  it('creates and starts a 1,000-target campaign with all its rows and jobs, or leaves nothing when aborted', async () => {
    const big = await makeOwner(t.db, t.client, 1000, 'big');
    const count = async () =>
      (await t.client.query(
        `select (select count(*) from public.campaigns where owner_id = $1)::int campaigns,
              (select count(*) from public.deliveries where owner_id = $1)::int deliveries,
              (select count(*) from pgboss.job where name = $2)::int jobs`,
        [big.userId, queueOf(big.accountId)],
      )).rows[0];

    // abort mid-transaction: after create + start, before commit
    await expect(asUser(t.client, big.userId, async (c) => {
      const id = await createCampaign(c, big);
      await c.query('select public.start_campaign($1)', [id]);
      const inside = (await c.query(`select count(*)::int n from public.deliveries where campaign_id = $1`, [id])).rows[0].n;
      expect(inside).toBe(1000);
      throw new Error('t.client went away');
    })).rejects.toThrow('t.client went away');
    expect(await count()).toEqual({ campaigns: 0, deliveries: 0, jobs: 0 });

    // a failure inside the RPC (bad rate) leaves nothing either
    const e = await sqlError(t.client, big.userId, (c) =>
      c.query(
        `select public.create_campaign(p_name => 'x', p_channel_ids => $1::uuid[], p_message => '{"text":"hi"}', p_rate_per_minute => 0)`,
        [big.channelIds],
      ));
    expect(e.code).toBe('23514');
    expect(await count()).toEqual({ campaigns: 0, deliveries: 0, jobs: 0 });

    const t0 = Date.now();
    await asUser(t.client, big.userId, async (c) => {
      const id = await createCampaign(c, big);
      await c.query('select public.start_campaign($1)', [id]);
    });
    console.log(`create + start of a 1,000-target campaign: ${Date.now() - t0} ms`);
    expect(await count()).toEqual({ campaigns: 1, deliveries: 1000, jobs: 1000 });
    const c =
      (await t.client.query(`select total_count, pending_count, state from public.campaigns where owner_id = $1`, [big.userId]))
        .rows[0];
    expect(c).toEqual({ total_count: 1000, pending_count: 1000, state: 'running' });
  });

  it('stores each target once when channels and batches overlap, with a fixed random_id per delivery', async () => {
    const o = await makeOwner(t.db, t.client, 4, 'dup');
    const id = await asUser(t.client, o.userId, async (c) => {
      const b = await c.query(`insert into public.batches (name) values ('b') returning id`);
      await c.query('select public.set_batch_channels($1, $2)', [b.rows[0].id, o.channelIds.slice(0, 3)]);
      const r = await c.query(
        `select (public.create_campaign(p_name => 'c', p_channel_ids => $1::uuid[], p_batch_ids => $2::uuid[],
           p_message => '{"text":"hi"}')).id`,
        [o.channelIds.slice(1), [b.rows[0].id]],
      );
      return r.rows[0].id as string;
    });
    const d = await t.client.query(
      `select channel_id, random_id, private.random_id_for(id) expected from public.deliveries where campaign_id = $1`,
      [id],
    );
    expect(d.rowCount).toBe(4);
    expect(new Set(d.rows.map((r) => r.channel_id)).size).toBe(4);
    for (const r of d.rows) expect(r.random_id).toBe(r.expected);
    expect(new Set(d.rows.map((r) => r.random_id)).size).toBe(4);
  });
});

describe('constraints hold in the database, whoever writes', () => {
  const bad: Array<[string, string, string]> = [
    ['empty text', `insert into public.templates (name, text) values ('t', '')`, '23514'],
    ['text over 4,096 characters', `insert into public.templates (name, text) values ('t', repeat('a', 4097))`, '23514'],
    ['unknown parse mode', `insert into public.templates (name, text, parse_mode) values ('t', 'x', 'rtf')`, '23514'],
    ['account rate <= 0', `insert into public.telegram_accounts (label, rate_per_minute) values ('a', 0)`, '23514'],
    ['a peer that is not Telegram', `insert into public.channels (peer) values ('not a peer!')`, '22023'],
  ];
  for (const [what, sql, code] of bad) {
    it(`refuses ${what} (${code})`, async () => {
      const e = await sqlError(t.client, t.owner.userId, (c) => c.query(sql));
      expect(e.code).toBe(code);
    });
  }

  it('refuses them as the superuser too, bypassing every API', async () => {
    const admin = await t.db.connectAdmin();
    const camp = (await admin.query(`select id from public.campaigns limit 1`)).rows[0].id;
    for (
      const sql of [
        `update public.campaigns set message_text = '' where id = '${camp}'`,
        `update public.campaigns set message_text = repeat('a', 4097) where id = '${camp}'`,
        `update public.campaigns set parse_mode = 'rtf' where id = '${camp}'`,
        `update public.campaigns set rate_per_minute = -1 where id = '${camp}'`,
        `update public.campaigns set sent_count = sent_count + 1 where id = '${camp}'`,
      ]
    ) {
      await expect(admin.query(sql), sql).rejects.toMatchObject({ code: '23514' });
    }
  });

  it('normalises every spelling of one channel to a single row', async () => {
    const o = await makeOwner(t.db, t.client, 0, 'norm');
    const r = await asUser(t.client, o.userId, (c) =>
      c.query(`select public.import_channels($1) r`, [[
        '@Durov_Channel',
        't.me/durov_channel',
        'https://t.me/durov_channel/',
        'tg://resolve?domain=durov_channel',
        'https://t.me/+AbCdEf123456',
        't.me/joinchat/AbCdEf123456',
        '-1001234567890',
        'bad peer',
        '',
      ]]));
    expect(r.rows[0].r).toMatchObject({ created: 3, duplicates: 4 });
    expect(r.rows[0].r.errors.map((e: { index: number }) => e.index)).toEqual([7, 8]);
  });
});
