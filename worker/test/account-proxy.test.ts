// Per-account proxies, end to end: the owner sets a proxy through the API (the real functions over
// HTTP), the worker in gramjs mode re-seals it and connects that account's GramJS client through
// it to the MTProto stand-in, sign-in included. A SOCKS5 server and an MTProxy on loopback count
// what they carry. A dead proxy makes its account unreachable and no other; clearing it connects
// the account directly again. The password and the secret reach no response, row or log line.
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createChannel, history, signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { startMtproxy, startSocks5, type TestProxy } from '../../scripts/telegram/proxies.ts';
import { asAnon, asUser } from '../../scripts/test/db.ts';
import { type ApiFixture, startApi, type User } from '../../supabase/tests/functions-fixture.ts';
import { type RunningWorker, startWorker } from '../src/worker.ts';
import { waitFor } from './fixtures.ts';
import { apiWorkerConfig, capturedLogger } from './stand-in-accounts.ts';

const KEY_TEXT = Buffer.alloc(32, 7).toString('base64');
const SOCKS_PASSWORD = 'socks-password-4711';
const MTPROXY_SECRET = 'dd0123456789abcdef0123456789abcdef';
const { standIn, track } = useStandIn();

let api: ApiFixture;
let worker: RunningWorker;
let lines: string[];
let user: User;
const proxies: TestProxy[] = [];

/** What GramJS prints itself (console.error of a failed connection's error, with what it carries). */
const printed: string[] = [];

beforeAll(async () => {
  for (const m of ['error', 'log', 'warn'] as const) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void printed.push(args.map((a) => inspect(a)).join(' ')));
  }
  api = await startApi();
  // The test's proxies listen on loopback: private targets allowed, as in local development.
  await allowPrivateProxies(true);
  const captured = capturedLogger();
  lines = captured.lines;
  worker = await startWorker({ ...apiWorkerConfig(api.db.url, standIn(), KEY_TEXT), proxyAllowPrivateTargets: true }, {
    logger: captured.logger,
  });
  user = await api.newUser();
}, 120_000);
afterAll(async () => {
  await worker?.stop();
  await Promise.all(proxies.map((p) => p.close()));
  await api?.stop();
});

async function allowPrivateProxies(on: boolean): Promise<void> {
  const c = await api.db.connectAdmin();
  try {
    await c.query('update private.proxy_settings set allow_private_targets = $1', [on]);
  } finally {
    await c.end();
  }
}

const tracked = async (p: Promise<TestProxy>) => (proxies.push(await p), proxies.at(-1)!);

async function newAccount(label: string): Promise<string> {
  const r = await user.call('POST', '/accounts', { label, ratePerMinute: 600 });
  expect(r.status).toBe(201);
  return r.body.id;
}

/** A number with its own channel @<channel>, signed in through the API. */
async function signedInAccount(accountId: string, channel: string): Promise<() => Promise<string[]>> {
  const phone = testPhone(2);
  const owner = track(await signedIn(standIn(), phone));
  const ch = await createChannel(owner, { username: channel });
  expect((await user.call('POST', `/accounts/${accountId}/login`, { phone })).body.state).toBe('code_sent');
  expect((await user.call('POST', `/accounts/${accountId}/login/code`, { code: '22222' })).body.state).toBe('signed_in');
  return async () => (await history(owner, ch)).map((m) => m.message);
}

/** The channel's id in the API, registered once. */
const channels = new Map<string, Promise<string>>();
const channelId = (username: string) => {
  if (!channels.has(username)) {
    channels.set(username, user.call('POST', '/channels', { peer: `@${username}` }).then((r) => r.body.id));
  }
  return channels.get(username)!;
};

/** Runs a campaign of one post to @<channel> with the account to its end. */
async function postWith(accountId: string, channel: string, text: string): Promise<void> {
  const channelIds = [await channelId(channel)];
  const c = await user.call('POST', '/campaigns', { name: text, message: { text }, channelIds, accountId });
  expect((await user.call('POST', `/campaigns/${c.body.id}/start`)).status).toBe(200);
  await waitFor(
    'the campaign ended',
    async () => (await user.call('GET', `/campaigns/${c.body.id}`)).body.state === 'completed',
    30_000,
    100,
  );
}

const account = async (id: string) => (await user.call('GET', `/accounts/${id}`)).body;
const setProxy = (id: string, proxy: unknown) => user.call('PUT', `/accounts/${id}/proxy`, proxy);

describe('per-account proxies', () => {
  it('signs in and posts through the account’s SOCKS5 proxy; a dead proxy makes that account unreachable, no other', async () => {
    const socks = await tracked(startSocks5({ username: 'campaigns', password: SOCKS_PASSWORD }));
    const proxied = await newAccount('through socks');
    const set = await setProxy(proxied, {
      type: 'socks5',
      host: '127.0.0.1',
      port: socks.port,
      username: 'campaigns',
      password: SOCKS_PASSWORD,
    });
    expect([set.status, set.body.proxy]).toEqual([200, { type: 'socks5', host: '127.0.0.1', port: socks.port }]);
    expect(JSON.stringify(set.body)).not.toContain(SOCKS_PASSWORD);

    const postedA = await signedInAccount(proxied, 'proxy_target_a');
    expect(socks.connections).toBeGreaterThanOrEqual(1); // the sign-in's
    const direct = await newAccount('direct');
    const postedB = await signedInAccount(direct, 'proxy_target_b');
    await waitFor('both served', async () => worker.accounts().filter((a) => a.status === 'running').length >= 2, 15_000, 50);
    expect(socks.connections).toBeGreaterThanOrEqual(2); // and the fleet's client of the account
    const bytes = socks.bytes;
    await postWith(proxied, 'proxy_target_a', 'posted through socks5');
    expect(await postedA()).toEqual(['posted through socks5']);
    expect(socks.bytes).toBeGreaterThan(bytes);
    const used = socks.connections;
    await postWith(direct, 'proxy_target_b', 'posted directly');
    expect(await postedB()).toEqual(['posted directly']);
    expect(socks.connections).toBe(used); // the other account connects directly

    // A proxy that went away: its account is unreachable (on the next connection, made at once), the other sends on.
    const dead = await tracked(startSocks5());
    await dead.close();
    const deadProxy = { type: 'socks5', host: '127.0.0.1', port: dead.port, username: 'campaigns', password: SOCKS_PASSWORD };
    const changedAt = Date.now();
    expect((await setProxy(proxied, deadProxy)).status).toBe(200);
    await waitFor('the proxied account unreachable', async () => (await account(proxied)).unreachableSince !== null, 30_000, 200);
    const unreachableMs = Date.now() - changedAt;
    await postWith(direct, 'proxy_target_b', 'still posted directly');
    expect((await account(direct)).unreachableSince).toBeNull();

    // Cleared: the account connects directly again and sends.
    const clearedAt = Date.now();
    const cleared = await user.call('DELETE', `/accounts/${proxied}/proxy`);
    expect([cleared.status, cleared.body.proxy]).toEqual([200, null]);
    await waitFor(
      'sending again',
      async () => worker.accounts().some((a) => a.id === proxied && a.status === 'running'),
      30_000,
      100,
    );
    const runningMs = Date.now() - clearedAt;
    process.stdout.write(
      `[account-proxy] dead proxy set: unreachable after ${unreachableMs} ms; cleared: running after ${runningMs} ms\n`,
    );
    await postWith(proxied, 'proxy_target_a', 'posted directly again');
    await waitFor('its unreachable mark cleared', async () => (await account(proxied)).unreachableSince === null, 10_000, 100);
    expect(await postedA()).toEqual(['posted directly again', 'posted through socks5']);
    expect(socks.connections).toBe(used);
  });

  it('signs a bot in and serves it through an MTProxy (obfuscated transport keyed by its secret)', async () => {
    const s = standIn();
    const mtproxy = await tracked(startMtproxy(MTPROXY_SECRET, s.dcs));
    const { token } = s.model.accounts.createBot('proxy_bot');
    const bot = await newAccount('bot through mtproxy');
    const set = await setProxy(bot, { type: 'mtproxy', host: '127.0.0.1', port: mtproxy.port, secret: MTPROXY_SECRET });
    expect([set.status, set.body.proxy]).toEqual([200, { type: 'mtproxy', host: '127.0.0.1', port: mtproxy.port }]);
    expect((await user.call('POST', `/accounts/${bot}/login`, { botToken: token })).body.state).toBe('signed_in');
    expect(mtproxy.connections).toBeGreaterThanOrEqual(1);
    await waitFor(
      'the bot served',
      async () => worker.accounts().some((a) => a.id === bot && a.status === 'running'),
      15_000,
      50,
    );
    expect(mtproxy.connections).toBeGreaterThanOrEqual(2); // the sign-in's and the fleet's
    expect(mtproxy.refused).toBe(0);

    // Another secret: the proxy cannot open the header, the account cannot connect (so it did connect through it).
    const wrong = '00112233445566778899aabbccddeeff';
    expect((await setProxy(bot, { type: 'mtproxy', host: '127.0.0.1', port: mtproxy.port, secret: wrong })).status).toBe(200);
    await waitFor('the bot unreachable', async () => (await account(bot)).unreachableSince !== null, 30_000, 200);
    expect(mtproxy.refused).toBeGreaterThan(0);
  });

  it('refuses a bad proxy naming the field, and another user’s account', async () => {
    const id = await newAccount('validated');
    const cases: Array<[unknown, string]> = [
      [{ type: 'socks5', host: 'not a host!', port: 1080 }, 'host'],
      [{ type: 'socks5', host: '127.0.0.1', port: 70000 }, 'port'],
      [{ type: 'socks5', host: 'proxy.example', port: 1080, username: 'only' }, 'password'],
      [{ type: 'mtproxy', host: 'proxy.example', port: 443, secret: 'ee0123456789abcdef0123456789abcdef' }, 'secret'],
      [{ type: 'mtproxy', host: 'proxy.example', port: 443 }, 'secret'],
      [{ type: 'http', host: 'proxy.example', port: 8080 }, 'type'],
    ];
    for (const [body, field] of cases) {
      const r = await setProxy(id, body);
      expect([r.status, r.body.error.code, r.body.error.issues?.[0]?.path?.at(-1)], JSON.stringify(body)).toEqual([
        422,
        'validation_failed',
        field,
      ]);
    }
    expect((await account(id)).proxy).toBeNull();
    // Into a private network: refused unless the operator allows it (here, for the test's proxies).
    await allowPrivateProxies(false);
    try {
      for (const host of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '::1', '2130706433', 'localhost', 'db.internal']) {
        const r = await setProxy(id, { type: 'socks5', host, port: 1080 });
        expect([r.status, r.body.error?.issues?.[0]?.path?.at(-1)], host).toEqual([422, 'host']);
      }
      expect((await setProxy(id, { type: 'socks5', host: '203.0.114.7', port: 1080 })).status).toBe(200);
    } finally {
      await allowPrivateProxies(true);
    }
    expect((await user.call('DELETE', `/accounts/${id}/proxy`)).status).toBe(200);
    const other = await api.newUser();
    const r = await other.call('PUT', `/accounts/${id}/proxy`, { type: 'socks5', host: '127.0.0.1', port: 1080 });
    expect(r.status).toBe(404);
    expect((await other.call('DELETE', `/accounts/${id}/proxy`)).status).toBe(404);
  });

  it('keeps the password and the secret out of logs, rows client roles read, and the functions’ reach', async () => {
    // The dead proxy's failed connections were printed by GramJS: without their credentials.
    expect(printed.filter((l) => l.includes('ECONNREFUSED')).length).toBeGreaterThan(0);
    for (const secret of [SOCKS_PASSWORD, MTPROXY_SECRET.slice(2), KEY_TEXT]) {
      expect(lines.filter((l) => l.includes(secret)), secret).toEqual([]);
      expect(printed.filter((l) => l.includes(secret)), secret).toEqual([]);
    }
    const c = await api.db.connect();
    try {
      for (const q of ['select * from private.account_proxy_requests', `select * from public.worker_proxy_requests('{}')`]) {
        await expect(asUser(c, user.id, (u) => u.query(q)), q).rejects.toMatchObject({ code: '42501' });
        await expect(asAnon(c, (u) => u.query(q)), q).rejects.toMatchObject({ code: '42501' });
      }
      const rows = await asUser(c, user.id, (u) => u.query('select t::text r from public.telegram_accounts t'));
      expect(rows.rows.filter((r) => r.r.includes(SOCKS_PASSWORD) || r.r.includes(MTPROXY_SECRET.slice(2)))).toEqual([]);
      // What the workers keep is ciphertext only: the queued forms were re-sealed and deleted.
      const kept = await c.query('select proxy_ciphertext from private.account_sessions where proxy_ciphertext is not null');
      expect(kept.rows.length).toBeGreaterThan(0);
      for (const r of kept.rows) expect(r.proxy_ciphertext.toString('latin1')).not.toContain('mtproxy');
      expect((await c.query('select count(*)::int n from private.account_proxy_requests')).rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
  });
});
