// Account health through the paths an owner takes: supabase-js calling the functions (the
// owner's JWT, through the local API gateway) and subscribed to the account's private Realtime
// topic, while the worker's RPCs move the account (FLOOD_WAIT, its end, PEER_FLOOD) as a worker
// does. GET /accounts shows the status, why, and the owner's campaigns the account paused.
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../../contracts/api/accounts.ts';
import { createApiClient } from '../../contracts/client.ts';
import {
  ACCOUNT_STATUS_EVENT,
  type AccountStatusEvent,
  accountStatusEventSchema,
  accountTopic,
} from '../../contracts/realtime.ts';
import { sleep } from '../../contracts/time.ts';
import { type Gateway, startGateway } from '../../scripts/stack/gateway.ts';
import { mintApiKeys } from '../../scripts/stack/keys.ts';
import { asServiceRole, asUser } from '../../scripts/test/db.ts';
import { type ApiFixture, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let gw: Gateway;
let c: pg.Client;
let anonKey: string;
const clients: SupabaseClient[] = [];

beforeAll(async () => {
  api = await startApi();
  c = await api.db.connect();
  anonKey = (await mintApiKeys(api.secret)).anonKey;
  gw = await startGateway({
    port: 0,
    functionsOrigin: api.server.baseUrl,
    realtime: { dbUrl: api.db.url, jwtSecret: api.secret },
  });
});
afterAll(async () => {
  for (const cl of clients) await cl.removeAllChannels().catch(() => {});
  await gw?.stop();
  await api?.stop();
});

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};
const worker = (sql: string, params: unknown[]) => asServiceRole(c, (t) => t.query(sql, params));

/** The owner's supabase-js client, an account and two running campaigns on it. */
async function ownerWithCampaigns(user: User) {
  const cl = createClient(gw.apiUrl, anonKey, { accessToken: async () => user.token });
  clients.push(cl);
  const client = createApiClient(cl);
  const account = await client.createAccount({ label: 'health' });
  const peers = [`@health_${user.id.slice(0, 8)}_1`, `@health_${user.id.slice(0, 8)}_2`];
  await client.importChannels({ peers });
  const channelIds = (await c.query('select id from public.channels where peer = any($1)', [peers])).rows.map((r) => r.id);
  const campaigns = [];
  for (const name of ['first', 'second']) {
    const campaign = await client.createCampaign({ name, message: { text: 'hi' }, channelIds, accountId: account.id });
    await client.startCampaign(campaign.id);
    campaigns.push(campaign);
  }
  return { cl, client, account, campaigns, channelIds };
}

const keyId = 'a1b2c3d4e5f60718';
const workerId = '00000000-0000-4000-8000-00000000beef';

/** One sign-in of the account as the function (the owner) and a worker call it; sealed bytes are opaque here. */
function signIn(owner: User, accountId: string) {
  const step = (kind: string) =>
    asUser(
      c,
      owner.id,
      (t) => t.query(`select public.request_login_step($1, $2, $3, $4, '+•••12')`, [accountId, kind, keyId, Buffer.alloc(61, 7)]),
    );
  // Every test's accounts share the key: take this account's step (others' are left taken, unanswered).
  const take = async () =>
    (await worker('select id from public.worker_take_login_steps($1, $2, 1000) where account_id = $3', [
      workerId,
      [keyId],
      accountId,
    ]))
      .rows[0];
  const answer = async (state: string, finished: boolean) => {
    const taken = await take();
    await worker('select public.worker_answer_login_step($1, $2, false, $3)', [taken.id, { state }, finished]);
  };
  const expire = async () => {
    await c.query(`update private.account_logins set expires_at = now() - interval '1 second' where account_id = $1`, [
      accountId,
    ]);
    await worker('select from public.worker_take_login_steps($1, $2)', [workerId, [keyId]]);
  };
  const signedIn = async () => {
    await step('phone');
    const taken = await take();
    await worker('select public.worker_store_session($1, $2, $3, $4)', [accountId, keyId, Buffer.alloc(12), Buffer.alloc(40)]);
    await worker('select public.worker_answer_login_step($1, $2, false, true)', [taken.id, { state: 'signed_in' }]);
  };
  return { step, start: () => step('phone'), answer, expire, signedIn };
}

/** The account's status and why, as GET /accounts/{id} shows them to its owner. */
async function statusOf(owner: User, accountId: string) {
  const a = (await owner.call('GET', `/accounts/${accountId}`)).body as Account;
  return [a.status, a.statusReason];
}

/** Status events of the account's private topic, as the owner's app receives them. */
async function watchStatus(cl: SupabaseClient, accountId: string) {
  await cl.realtime.setAuth();
  const seen: AccountStatusEvent[] = [];
  const channel = cl.channel(accountTopic(accountId), { config: { private: true } })
    .on('broadcast', { event: ACCOUNT_STATUS_EVENT }, (m) => seen.push(accountStatusEventSchema.parse(m.payload)));
  await new Promise<void>((resolve, reject) =>
    channel.subscribe((status, err) =>
      status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status))
    )
  );
  return seen;
}

describe('account health on GET /accounts and Realtime', () => {
  it('FLOOD_WAIT, its end and PEER_FLOOD: the owner sees each status, why, and the campaigns it paused, live', async () => {
    const owner = await api.newUser();
    const other = await api.newUser();
    const { cl, account, campaigns } = await ownerWithCampaigns(owner);
    expect(account).toMatchObject({ status: 'active', statusReason: null, floodWaitUntil: null, pausedCampaigns: [] });
    const seen = await watchStatus(cl, account.id);
    const get = async (u: User = owner) => (await u.call('GET', `/accounts/${account.id}`)) as { status: number; body: Account };

    // A short FLOOD_WAIT, so that its end comes (as the worker's campaign-resume job finds it).
    const floodUntil = (await worker('select public.worker_flood_wait($1, 1) as u', [account.id])).rows[0].u as Date;
    const waiting = (await get()).body;
    const byName = (a: Account) => [...a.pausedCampaigns].sort((x, y) => x.name.localeCompare(y.name));
    expect(waiting).toMatchObject({
      status: 'flood_wait',
      statusReason: 'FLOOD_WAIT_1',
      floodWaitUntil: floodUntil.toISOString(),
    });
    expect(byName(waiting)).toEqual(campaigns.map((x) => ({
      id: x.id,
      name: x.name,
      pauseReason: 'flood_wait',
      resumeAt: floodUntil.toISOString(),
    })));
    // the list says the same; another user sees neither the account nor its campaigns
    const list = (await owner.call('GET', '/accounts')).body.items as Account[];
    expect(list.find((a) => a.id === account.id)).toEqual(waiting);
    expect((await get(other)).status).toBe(404);
    const leaked = await asUser(c, other.id, (t) => t.query('select public.account_paused_campaigns($1) as p', [account.id]));
    expect(leaked.rows[0].p).toEqual([]);

    await until('the wait over', () => Date.now() > floodUntil.getTime() + 100);
    expect((await worker('select public.worker_resume_due($1) as n', [account.id])).rows[0].n).toBe(2);
    expect((await get()).body).toMatchObject({ status: 'active', statusReason: null, floodWaitUntil: null, pausedCampaigns: [] });

    await worker('select public.worker_account_status($1, $2, $3)', [account.id, 'limited', 'PEER_FLOOD: Too many requests']);
    const limited = (await get()).body;
    expect(limited).toMatchObject({ status: 'limited', statusReason: 'PEER_FLOOD: Too many requests', floodWaitUntil: null });
    expect(byName(limited).map((p) => [p.name, p.pauseReason, p.resumeAt])).toEqual([
      ['first', 'account', null],
      ['second', 'account', null],
    ]);

    await until('three status events', () => seen.length >= 3);
    // Realtime carries Postgres's JSON timestamps (+00:00): the same instant as the API's.
    expect(seen.map((e) => [e.status, e.statusReason, e.floodWaitUntil && new Date(e.floodWaitUntil).toISOString()])).toEqual([
      ['flood_wait', 'FLOOD_WAIT_1', floodUntil.toISOString()],
      ['active', null, null],
      ['limited', 'PEER_FLOOD: Too many requests', null],
    ]);
    // Hosted Realtime's Postgres Changes serve the table too.
    const pub = await c.query(
      `select 1 from pg_publication_tables where pubname = 'supabase_realtime' and tablename = 'telegram_accounts'`,
    );
    expect(pub.rowCount).toBe(1);
  });

  it("a worker of the previous release still reporting 'peer_flood' stores limited", async () => {
    const owner = await api.newUser();
    const { account } = await ownerWithCampaigns(owner);
    await worker('select public.worker_account_status($1, $2, $3)', [account.id, 'peer_flood', 'PEER_FLOOD']);
    expect((await owner.call('GET', `/accounts/${account.id}`)).body.status).toBe('limited');
  });

  it('logging_in while a sign-in of an account with no session is under way; after it, signed in or what it was', async () => {
    const owner = await api.newUser();
    const { account } = await ownerWithCampaigns(owner);
    const status = () => statusOf(owner, account.id);
    const { step, start, answer, expire, signedIn } = signIn(owner, account.id);

    await start();
    expect(await status()).toEqual(['logging_in', 'signing in (phone)']);
    await answer('code_sent', false);
    expect(await status()).toEqual(['logging_in', 'signing in (phone)']);
    await step('code');
    await answer('failed', true);
    expect(await status()).toEqual(['active', null]);

    // Revoked: a sign-in that expires leaves it revoked, with Telegram's reason.
    await worker('select public.worker_account_status($1, $2, $3)', [account.id, 'revoked', 'AUTH_KEY_UNREGISTERED: gone']);
    await start();
    await answer('code_sent', false);
    expect(await status()).toEqual(['logging_in', 'signing in (phone)']);
    await expire();
    expect(await status()).toEqual(['revoked', 'AUTH_KEY_UNREGISTERED: gone']);

    // Signed in: the worker stores the session, then answers; the account is active.
    await signedIn();
    expect(await status()).toEqual(['active', null]);

    // With a session, the account keeps its status (and sends with it) while it signs in anew.
    await start();
    expect(await status()).toEqual(['active', null]);
    const events = await c.query(
      `select payload ->> 'status' s from realtime.messages where topic = $1 and event = 'status' order by id`,
      [accountTopic(account.id)],
    );
    expect(events.rows.map((r) => r.s)).toEqual([
      'logging_in',
      'active',
      'revoked',
      'logging_in',
      'revoked',
      'logging_in',
      'active',
    ]);
  });

  it('disabled by the owner: its campaigns pause, nothing the worker reports enables it, enable then resume', async () => {
    const owner = await api.newUser();
    const other = await api.newUser();
    const { account, campaigns } = await ownerWithCampaigns(owner);
    const [first] = campaigns;
    // they wait out a FLOOD_WAIT: once disabled, they no longer resume by themselves
    const floodUntil = (await worker('select public.worker_flood_wait($1, 1) as u', [account.id])).rows[0].u as Date;
    expect((await other.call('POST', `/accounts/${account.id}/disable`)).status).toBe(404);

    const disabled = await owner.call('POST', `/accounts/${account.id}/disable`);
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ status: 'disabled', statusReason: 'disabled by its owner', floodWaitUntil: null });
    expect((disabled.body as Account).pausedCampaigns.map((p) => [p.pauseReason, p.resumeAt])).toEqual([
      ['account', null],
      ['account', null],
    ]);
    expect((await owner.call('POST', `/accounts/${account.id}/disable`)).body.status).toBe('disabled'); // twice: no change
    // The FLOOD_WAIT's end, or another one answered to a send in flight, leave it disabled.
    await until('the wait over', () => Date.now() > floodUntil.getTime() + 100);
    expect((await worker('select public.worker_resume_due($1) as n', [account.id])).rows[0].n).toBe(0);
    await worker('select public.worker_flood_wait($1, 30)', [account.id]);
    expect((await owner.call('GET', `/accounts/${account.id}`)).body.status).toBe('disabled');
    const refused = await owner.call('POST', `/campaigns/${first!.id}/resume`);
    expect([refused.status, refused.body.error.message]).toEqual([
      409,
      `cannot resume campaign: account ${account.id} is disabled: enable it first (POST /accounts/${account.id}/enable)`,
    ]);

    // The FLOOD_WAIT kept by the disable is over: enable makes it active and resumes what it paused.
    const enabled = await owner.call('POST', `/accounts/${account.id}/enable`);
    expect(enabled.body).toMatchObject({ status: 'active', statusReason: null, pausedCampaigns: [] });
    for (const x of campaigns) expect((await owner.call('GET', `/campaigns/${x.id}`)).body.state).toBe('running');
    const again = await owner.call('POST', `/accounts/${account.id}/enable`);
    expect([again.status, again.body.error.message]).toEqual([409, `account ${account.id} is not disabled (it is active)`]);
    const audit = await c.query(
      `select action from public.audit_log where entity_id = $1 and action in ('disable', 'enable') order by created_at`,
      [account.id],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['disable', 'enable']);
  });

  it('enable restores what Telegram said: revoked with its reason, a sign-in under way, a revoke or PEER_FLOOD reported while disabled', async () => {
    const owner = await api.newUser();
    const { account } = await ownerWithCampaigns(owner);
    const status = () => statusOf(owner, account.id);
    const toggle = async () => {
      expect((await owner.call('POST', `/accounts/${account.id}/disable`)).body.status).toBe('disabled');
      return (await owner.call('POST', `/accounts/${account.id}/enable`)).body as Account;
    };
    const login = signIn(owner, account.id);

    await worker('select public.worker_account_status($1, $2, $3)', [account.id, 'revoked', 'AUTH_KEY_UNREGISTERED: gone']);
    const revoked = await toggle();
    expect([revoked.status, revoked.statusReason]).toEqual(['revoked', 'AUTH_KEY_UNREGISTERED: gone']);
    // no session: the campaigns the revoke paused stay paused for the owner's resume after a sign-in
    expect(revoked.pausedCampaigns.map((p) => p.pauseReason)).toEqual(['account', 'account']);

    // A sign-in under way across the disable: still signing in, and if it expires, revoked again.
    await login.start();
    await login.answer('code_sent', false);
    await toggle();
    expect(await status()).toEqual(['logging_in', 'signing in (phone)']);
    await login.expire();
    expect(await status()).toEqual(['revoked', 'AUTH_KEY_UNREGISTERED: gone']);

    // Signed in while disabled: active once enabled.
    await owner.call('POST', `/accounts/${account.id}/disable`);
    await login.signedIn();
    expect(await status()).toEqual(['disabled', 'disabled by its owner']);
    expect((await owner.call('POST', `/accounts/${account.id}/enable`)).body.status).toBe('active');

    // What a send in flight reports while the account is disabled is what enable restores.
    for (const [reported, reason] of [['revoked', 'SESSION_REVOKED'], ['limited', 'PEER_FLOOD']]) {
      if (reported === 'limited') await login.signedIn();
      await owner.call('POST', `/accounts/${account.id}/disable`);
      await worker('select public.worker_account_status($1, $2, $3)', [account.id, reported, reason]);
      expect(await status()).toEqual(['disabled', 'disabled by its owner']);
      const enabled = (await owner.call('POST', `/accounts/${account.id}/enable`)).body as Account;
      expect([enabled.status, enabled.statusReason]).toEqual([reported, reason]);
    }
    // PEER_FLOOD before the disable stays too.
    expect(await toggle()).toMatchObject({ status: 'limited', statusReason: 'PEER_FLOOD' });
  });

  it('enable resumes exactly the campaigns the disable paused: not one the owner paused, a FLOOD_WAIT still under way kept', async () => {
    const owner = await api.newUser();
    const { account, campaigns: [first, second] } = await ownerWithCampaigns(owner);
    expect((await owner.call('POST', `/campaigns/${second!.id}/pause`)).body.pauseReason).toBe('manual');
    const floodUntil = (await worker('select public.worker_flood_wait($1, 600) as u', [account.id])).rows[0].u as Date;

    await owner.call('POST', `/accounts/${account.id}/disable`);
    const enabled = (await owner.call('POST', `/accounts/${account.id}/enable`)).body as Account;
    expect([enabled.status, enabled.floodWaitUntil && new Date(enabled.floodWaitUntil).getTime()]).toEqual([
      'flood_wait',
      floodUntil.getTime(),
    ]);
    expect(enabled.pausedCampaigns.map((p) => [p.id, p.pauseReason, new Date(p.resumeAt!).getTime()])).toEqual([
      [first!.id, 'flood_wait', floodUntil.getTime()],
    ]);
    expect((await owner.call('GET', `/campaigns/${second!.id}`)).body).toMatchObject({ state: 'paused', pauseReason: 'manual' });
    // the wait's own job, queued for its end, still resumes it as any campaign the wait paused
    const due = await c.query(
      `select count(*)::int n from pgboss.job j join public.telegram_accounts a on a.id::text = j.data ->> 'accountId'
       where a.id = $1 and j.name = 'campaign-resume' and j.state = 'created' and j.start_after = a.flood_wait_until`,
      [account.id],
    );
    expect(due.rows[0].n).toBe(1);
  });

  it('start, schedule or resume on an account that cannot send: 409 saying what to do; after PEER_FLOOD, the start reactivates it', async () => {
    const owner = await api.newUser();
    const { client, account, campaigns: [first, done], channelIds } = await ownerWithCampaigns(owner);
    const draft = (scheduledAt?: string) =>
      client.createCampaign({ name: 'later', message: { text: 'hi' }, channelIds, accountId: account.id, scheduledAt });
    const refused = async (action: 'start' | 'resume' | 'retry-failed', campaignId: string) => {
      const before = (await owner.call('GET', `/campaigns/${campaignId}`)).body.state;
      const r = await owner.call('POST', `/campaigns/${campaignId}/${action}`);
      expect((await owner.call('GET', `/campaigns/${campaignId}`)).body.state).toBe(before);
      return [r.status, r.body.error?.message];
    };
    const now = await draft();
    const scheduled = await draft(new Date(Date.now() + 3_600_000).toISOString());
    await owner.call('POST', `/campaigns/${first!.id}/pause`);
    // every send failed, as the worker records it: the campaign completed
    await c.query(`update public.deliveries set state = 'failed', error_code = 'CHAT_WRITE_FORBIDDEN' where campaign_id = $1`, [
      done!.id,
    ]);

    await owner.call('POST', `/accounts/${account.id}/disable`);
    const enableFirst = `account ${account.id} is disabled: enable it first (POST /accounts/${account.id}/enable)`;
    expect(await refused('start', now.id)).toEqual([409, `cannot start campaign: ${enableFirst}`]);
    expect(await refused('start', scheduled.id)).toEqual([409, `cannot start campaign: ${enableFirst}`]);
    expect(await refused('resume', first!.id)).toEqual([409, `cannot resume campaign: ${enableFirst}`]);
    expect(await refused('retry-failed', done!.id)).toEqual([409, `cannot retry-failed campaign: ${enableFirst}`]);

    await owner.call('POST', `/accounts/${account.id}/enable`);
    await worker('select public.worker_account_status($1, $2, $3)', [account.id, 'revoked', 'SESSION_REVOKED']);
    const signInFirst =
      `account ${account.id} has no Telegram session (revoked: SESSION_REVOKED): sign it in through the API (POST /accounts/${account.id}/login, or \`npm run login -- --api <functions URL> --account ${account.id}\`)`;
    expect(await refused('start', now.id)).toEqual([409, `cannot start campaign: ${signInFirst}, then start`]);
    expect(await refused('resume', first!.id)).toEqual([409, `cannot resume campaign: ${signInFirst}, then resume`]);
    await signIn(owner, account.id).start();
    expect((await refused('start', now.id))[1]).toMatch(/^cannot start campaign: .*a sign-in is under way/);

    await worker('select public.worker_account_status($1, $2, $3)', [account.id, 'limited', 'PEER_FLOOD']);
    expect((await owner.call('POST', `/campaigns/${scheduled.id}/start`)).body.state).toBe('scheduled');
    expect(await statusOf(owner, account.id)).toEqual(['active', null]);
    const audit = await c.query(`select action from public.audit_log where entity_id = $1 and action = 'reactivate'`, [
      account.id,
    ]);
    expect(audit.rows).toHaveLength(1);
  });
});
