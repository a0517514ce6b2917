// The limits of test sends and quotas in SQL, as `authenticated` calls them: caps on pending test
// sends (per user, per account, per statement), the pending_deliveries quota on retry-failed,
// quotas that hold for two concurrent REPEATABLE READ sessions, and message lengths counted in
// UTF-16 code units like Telegram and the API.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser, createCampaignAs, createTestDatabase, type TestDatabase, type TxClient } from '../../scripts/test/db.ts';
import { makeOwner, type Owner, sqlError } from './fixtures.ts';

let db: TestDatabase;
let client: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase();
  client = await db.connect();
});
afterAll(async () => {
  await db?.drop();
});

const limit = (owner: Owner, name: string, value: number) =>
  client.query(
    `insert into private.quota_overrides (owner_id, name, value) values ($1, $2, $3)
     on conflict (owner_id, name) do update set value = excluded.value`,
    [owner.userId, name, value],
  );
const pendingTests = async (owner: Owner) =>
  (await client.query(`select count(*)::int n from public.campaign_test_sends where owner_id = $1 and state = 'pending'`, [
    owner.userId,
  ])).rows[0].n;

describe('pending test sends', () => {
  let o: Owner;
  let campaignId: string;
  let secondAccount: string;
  let otherCampaign: string;
  beforeAll(async () => {
    o = await makeOwner(db, client, 2, 'tests');
    [campaignId, secondAccount, otherCampaign] = await asUser(client, o.userId, async (c) => {
      const first = await createCampaignAs(c, { channelIds: o.channelIds });
      const acc = (await c.query(`insert into public.telegram_accounts (label) values ('second') returning id`)).rows[0].id;
      return [first, acc, await createCampaignAs(c, { channelIds: o.channelIds, accountId: acc })];
    });
  });
  const test = (id: string) => (c: TxClient) => c.query('select public.test_campaign($1)', [id]);

  it('a statement asking 5,000 at once is refused whole with 429 naming the quota', async () => {
    const e = await sqlError(
      client,
      o.userId,
      (c) => c.query('select public.test_campaign($1) from generate_series(1, 5000)', [campaignId]),
    );
    expect(e.code).toBe('PT429');
    expect(e.message).toMatch(/quota "pending_tests_per_account"/);
    expect(JSON.parse(e.detail!)).toEqual({ field: 'id', quota: 'pending_tests_per_account', limit: 3 });
    expect(await pendingTests(o)).toBe(0);
  });

  it('caps pending tests per account (3) and per user (5); expired ones no longer count', async () => {
    for (let i = 0; i < 3; i++) await asUser(client, o.userId, test(campaignId));
    const perAccount = await sqlError(client, o.userId, test(campaignId));
    expect([perAccount.code, JSON.parse(perAccount.detail!).quota]).toEqual(['PT429', 'pending_tests_per_account']);
    await asUser(client, o.userId, test(otherCampaign));
    await asUser(client, o.userId, test(otherCampaign));
    const perUser = await sqlError(client, o.userId, test(otherCampaign));
    expect([perUser.code, JSON.parse(perUser.detail!).quota]).toEqual(['PT429', 'pending_tests']);
    expect(await pendingTests(o)).toBe(5);
    // The worker gives up on a test 60 s after it was asked for: it no longer holds a place.
    await client.query(
      `update public.campaign_test_sends set created_at = now() - interval '61 seconds' where owner_id = $1 and account_id = $2`,
      [o.userId, secondAccount],
    );
    await asUser(client, o.userId, test(otherCampaign));
  });
});

describe('pending_deliveries on retry-failed', () => {
  it('refuses a retry that would put more deliveries in pending than the quota allows', async () => {
    const o = await makeOwner(db, client, 6, 'retry');
    await limit(o, 'pending_deliveries', 3);
    const [failing, other] = await asUser(client, o.userId, async (c) => [
      await createCampaignAs(c, { channelIds: o.channelIds.slice(0, 3) }),
      await createCampaignAs(c, { channelIds: o.channelIds.slice(3) }),
    ]);
    await asUser(client, o.userId, (c) => c.query('select public.start_campaign($1)', [failing]));
    // the worker's verdict on all three (as the worker's RPC records it: counts follow)
    await client.query(
      `update public.deliveries set state = 'failed', error_code = 'PEER_ID_INVALID', error_message = 'x'
       where campaign_id = $1`,
      [failing],
    );
    await asUser(client, o.userId, (c) => c.query('select public.start_campaign($1)', [other]));
    const e = await sqlError(client, o.userId, (c) => c.query('select public.retry_failed_deliveries($1)', [failing]));
    expect(e.code).toBe('PT422');
    expect(JSON.parse(e.detail!)).toMatchObject({ quota: 'pending_deliveries', limit: 3 });
    const { rows } = await client.query(
      `select sum(pending_count)::int n from public.campaigns where owner_id = $1 and state in ('running', 'paused', 'scheduled')`,
      [o.userId],
    );
    expect(rows[0].n).toBe(3);
    // once the other campaign is done, the retry fits
    await asUser(client, o.userId, (c) => c.query('select public.cancel_campaign($1)', [other]));
    await asUser(client, o.userId, (c) => c.query('select public.retry_failed_deliveries($1)', [failing]));
  });
});

describe('quotas under REPEATABLE READ', () => {
  it('two concurrent sessions of one user cannot both pass a limit', async () => {
    const o = await makeOwner(db, client, 2, 'rr');
    await limit(o, 'channels', 3);
    const [s1, s2] = [await db.connect(), await db.connect()];
    const begin = async (s: pg.Client) => {
      await s.query('begin isolation level repeatable read');
      await s.query(`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ sub: o.userId, role: 'authenticated' }),
      ]);
      // the snapshot: both sessions see the 2 channels there are
      expect((await s.query('select count(*)::int n from public.channels')).rows[0].n).toBe(2);
    };
    await begin(s1);
    await begin(s2);
    await s1.query(`insert into public.channels (peer) values ('@rr_one')`);
    const second = s2.query(`insert into public.channels (peer) values ('@rr_two')`).then(
      () => null,
      (err: { code?: string; message: string }) => err,
    );
    await s1.query('commit');
    const err = await second;
    await s2.query('rollback');
    expect(err?.code).toBe('40001');
    expect(err?.message).toMatch(/retry/);
    const { rows } = await client.query('select count(*)::int n from public.channels where owner_id = $1', [o.userId]);
    expect(rows[0].n).toBe(3);
  });
});

describe("the functions' role", () => {
  it('ends sessions left idle in a transaction', async () => {
    const { rows } = await client.query(
      `select s.setconfig from pg_db_role_setting s where s.setrole = 'functions_api'::regrole and s.setdatabase = 0`,
    );
    expect(rows[0]?.setconfig).toContain('idle_in_transaction_session_timeout=15s');
  });
});

describe('message length in UTF-16 code units', () => {
  const render = (text: string, value: string) =>
    client.query('select text from public.render_template($1, $2)', [text, { v: value }]);

  it('counts an emoji as 2, as Telegram and the API do', async () => {
    const emoji = '\u{1F600}';
    expect(emoji.length).toBe(2);
    expect((await render('{{v}}', emoji.repeat(2048))).rows[0].text).toBe(emoji.repeat(2048));
    await expect(render('{{v}}', emoji.repeat(2049))).rejects.toMatchObject({ code: 'PT422' });
    await expect(render('x{{v}}', emoji.repeat(2048))).rejects.toMatchObject({ code: 'PT422' });
    await expect(render(emoji.repeat(2049), '')).rejects.toMatchObject({ code: 'PT422' });
    const { rows } = await client.query(`select private.utf16_length($1) n`, [`a\u00e9\u4e2d${emoji}`]);
    expect(rows[0].n).toBe(`a\u00e9\u4e2d${emoji}`.length);
  });

  it("a template written directly (the Data API's path) is checked in UTF-16 units too", async () => {
    const o = await makeOwner(db, client, 0, 'direct');
    const insert = (text: string) => (c: TxClient) =>
      c.query(`insert into public.templates (name, text, parse_mode) values ($1, $2, 'plain')`, [text.length, text]);
    const e = await sqlError(client, o.userId, insert('\u{1F600}'.repeat(2049)));
    expect([e.code, e.message]).toEqual(['23514', expect.stringMatching(/templates_text_check/)]);
    await asUser(client, o.userId, insert('\u{1F600}'.repeat(2048)));
  });

  it('refuses a campaign whose template variables make it longer than 4096 units', async () => {
    const o = await makeOwner(db, client, 1, 'emoji');
    const templateId = await asUser(
      client,
      o.userId,
      async (c) =>
        (await c.query(`insert into public.templates (name, text, parse_mode) values ('e', 'Hi {{v}}', 'plain') returning id`))
          .rows[0].id,
    );
    const make = (v: string) => (c: TxClient) =>
      c.query(
        `select public.create_campaign(p_name => 'e', p_channel_ids => $1::uuid[], p_template_id => $2, p_variables => $3)`,
        [
          o.channelIds,
          templateId,
          { v },
        ],
      );
    const e = await sqlError(client, o.userId, make('\u{1F600}'.repeat(2047)));
    expect([e.code, JSON.parse(e.detail!).field]).toEqual(['PT422', 'variables']);
    await asUser(client, o.userId, make('\u{1F600}'.repeat(2046)));
  });
});
