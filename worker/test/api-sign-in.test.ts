// Signing accounts in through the API, end to end: the real functions over HTTP with a user's
// JWT, the real worker in gramjs mode with its GramJS network stack against the MTProto stand-in
// (TELEGRAM_SERVER), secrets sealed for the workers in between. A test number with two-step
// verification signs in with its code and password and its running campaign is sent; a bot
// signs in with its token; each of Telegram's refusals is a 4xx naming it; wrong codes past the
// limit are refused before Telegram is asked; `npm run login -- --api` does the same at a
// terminal; no log line and no readable row holds a secret.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_LOGIN_EVENT, ACCOUNT_STATUS_EVENT, accountTopic } from '../../contracts/realtime.ts';
import { Api } from 'telegram';
import {
  createChannel,
  history,
  inputChannel,
  resolveUser,
  signedIn,
  testPhone,
  useStandIn,
} from '../../scripts/telegram/testing.ts';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import { type Gateway, startGateway } from '../../scripts/stack/gateway.ts';
import { mintApiKeys } from '../../scripts/stack/keys.ts';
import { TelegramModel } from '../../scripts/telegram/model/model.ts';
import { asAnon, asUser } from '../../scripts/test/db.ts';
import { type ApiFixture, startApi, type User } from '../../supabase/tests/functions-fixture.ts';
import { readSealedSessions } from '../src/sessions/store.ts';
import { type RunningWorker, startWorker } from '../src/worker.ts';
import { waitFor } from './fixtures.ts';
import { apiWorkerConfig, capturedLogger } from './stand-in-accounts.ts';

const KEY_TEXT = Buffer.alloc(32, 9).toString('base64');
/** The stand-in's clock: tests move it past a code's lifetime. */
let clockShiftMs = 0;
const model = new TelegramModel({
  now: () => Date.now() + clockShiftMs,
  config: { signIn: { codeLifetimeMs: 5 * 60_000, sendCode: { limit: 2, ms: 3_600_000 } } },
});
const { standIn, track } = useStandIn({ model });
const PASSWORD = 'correct horse battery';
const secrets: string[] = [PASSWORD, KEY_TEXT];

let api: ApiFixture;
let gateway: Gateway;
let anonKey: string;
let worker: RunningWorker;
let lines: string[];
let user: User;

beforeAll(async () => {
  api = await startApi();
  const captured = capturedLogger();
  lines = captured.lines;
  worker = await startWorker(apiWorkerConfig(api.db.url, standIn(), KEY_TEXT), { logger: captured.logger });
  user = await api.newUser();
  gateway = await startGateway({
    port: 0,
    functionsOrigin: api.server.baseUrl,
    realtime: { dbUrl: api.db.url, jwtSecret: api.secret },
  });
  anonKey = (await mintApiKeys(api.secret)).anonKey;
}, 120_000);
afterAll(async () => {
  await gateway?.stop();
  await worker?.stop();
  await api?.stop();
});

async function newAccount(label: string): Promise<string> {
  const r = await user.call('POST', '/accounts', { label, ratePerMinute: 600 });
  expect(r.status).toBe(201);
  return r.body.id;
}

const login = (id: string, step: '' | '/code' | '/password', body: unknown) =>
  user.call('POST', `/accounts/${id}/login${step}`, body);

/** A test number with an account, a password, and admin rights in @<channel>, made through MTProto. */
async function numberWithPassword(channel: string): Promise<{ phone: string; posted: () => Promise<string[]> }> {
  const creator = track(await signedIn(standIn(), testPhone(2)));
  const ch = await createChannel(creator, { username: channel });
  const phone = testPhone(1);
  const owner = await signedIn(standIn(), phone);
  await owner.invoke(new Api.account.UpdateUsername({ username: `${channel}_owner` }));
  await owner.updateTwoFaSettings({ newPassword: PASSWORD, hint: 'the horse' });
  await owner.destroy();
  await creator.invoke(
    new Api.channels.EditAdmin({
      channel: inputChannel(ch),
      userId: await resolveUser(creator, `${channel}_owner`),
      adminRights: new Api.ChatAdminRights({ postMessages: true }),
      rank: '',
    }),
  );
  secrets.push(phone);
  return { phone, posted: async () => (await history(creator, ch)).map((m) => m.message) };
}

describe('sign-in through the API', () => {
  it('signs a number with 2FA in (code, then password) and its waiting campaign is sent', async () => {
    const { phone, posted } = await numberWithPassword('api_login_target');
    const accountId = await newAccount('main');
    const channel = await user.call('POST', '/channels', { peer: '@api_login_target' });
    const campaign = await user.call('POST', '/campaigns', {
      name: 'after sign-in',
      message: { text: 'signed in through the API' },
      channelIds: [channel.body.id],
      accountId,
    });
    expect((await user.call('POST', `/campaigns/${campaign.body.id}/start`)).status).toBe(200);

    const sent = await login(accountId, '', { phone: `+${phone}` });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toMatchObject({ state: 'code_sent', method: 'phone', codeType: 'app', codeLength: 5 });
    expect(sent.body.identity).toBe(`+${'•'.repeat(phone.length - 2)}${phone.slice(-2)}`);

    const wrong = await login(accountId, '/code', { code: '22222' });
    expect([wrong.status, wrong.body.error.code, wrong.body.error.details]).toEqual([422, 'login_refused', {
      telegramError: 'PHONE_CODE_INVALID',
      seconds: null,
    }]);
    expect(wrong.body.error.issues).toEqual([{ path: ['code'], message: 'PHONE_CODE_INVALID' }]);
    expect((await user.call('GET', `/accounts/${accountId}`)).body.login).toMatchObject({
      state: 'code_sent',
      error: { code: 'PHONE_CODE_INVALID', seconds: null },
    });

    const code = await login(accountId, '/code', { code: '11111' });
    expect(code.body).toMatchObject({ state: 'password_needed', hint: 'the horse', error: null });
    const badPassword = await login(accountId, '/password', { password: 'wrong horse' });
    expect([badPassword.status, badPassword.body.error.details.telegramError]).toEqual([422, 'PASSWORD_HASH_INVALID']);

    const done = await login(accountId, '/password', { password: PASSWORD });
    expect(done.body).toMatchObject({ state: 'signed_in', error: null, expiresAt: null });
    const signedInAt = Date.now();
    await waitFor('the account served', async () => worker.accounts().some((a) => a.id === accountId), 5_000, 20);
    const servedMs = Date.now() - signedInAt;
    await waitFor(
      'the campaign completed',
      async () => (await user.call('GET', `/campaigns/${campaign.body.id}`)).body.state === 'completed',
      30_000,
      100,
    );
    console.log(
      `[api-sign-in] after signed_in: account served in ${servedMs} ms, campaign sent in ${Date.now() - signedInAt} ms`,
    );
    expect(await posted()).toEqual(['signed in through the API']);
    expect((await user.call('GET', `/accounts/${accountId}`)).body.login).toMatchObject({ state: 'signed_in', method: 'phone' });
    // Realtime: each change was broadcast on the account's private topic, in order.
    const c = await api.db.connect();
    try {
      const { rows } = await c.query(
        `select payload -> 'login' ->> 'state' s from realtime.messages where topic = $1 and event = 'login' order by id`,
        [`account:${accountId}`],
      );
      expect(rows.map((r) => r.s)).toEqual([
        'pending',
        'code_sent',
        'code_sent',
        'password_needed',
        'password_needed',
        'signed_in',
      ]);
    } finally {
      await c.end();
    }
  });

  it('signs a bot in with its token (a supabase-js client sees it on Realtime), and refuses an unknown token naming it', async () => {
    const { token } = standIn().model.accounts.createBot('api_login_bot');
    secrets.push(token);
    const accountId = await newAccount('bot');
    const supabase = createClient(gateway.apiUrl, anonKey, { accessToken: async () => user.token });
    await supabase.realtime.setAuth(); // the user's token for the join, as Supabase's Realtime Authorization guide does
    const seen: string[] = [];
    const statuses: string[] = [];
    const channel = supabase.channel(accountTopic(accountId), { config: { private: true } })
      .on('broadcast', { event: ACCOUNT_LOGIN_EVENT }, (m) => seen.push(m.payload.login.state))
      .on('broadcast', { event: ACCOUNT_STATUS_EVENT }, (m) => statuses.push(m.payload.status));
    await new Promise<void>((resolve, reject) =>
      channel.subscribe((status, err) =>
        status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status))
      )
    );
    const r = await login(accountId, '', { botToken: token });
    expect(r.body).toMatchObject({ state: 'signed_in', method: 'bot', identity: `bot ${token.split(':')[0]}` });
    await waitFor('the broadcasts', async () => seen.length >= 2 && statuses.length >= 2, 10_000, 20);
    expect(seen).toEqual(['pending', 'signed_in']);
    // The account's status follows: no session while the sign-in is under way, then active.
    expect(statuses).toEqual(['logging_in', 'active']);
    await supabase.removeAllChannels();
    await waitFor('the bot served', async () => worker.accounts().some((a) => a.id === accountId), 5_000, 20);
    const bad = await login(await newAccount('bad bot'), '', { botToken: `${token.split(':')[0]}:${'x'.repeat(32)}` });
    expect([bad.status, bad.body.error.details.telegramError, bad.body.error.issues[0].path]).toEqual([
      422,
      'ACCESS_TOKEN_INVALID',
      ['botToken'],
    ]);
  });

  it('names PHONE_NUMBER_INVALID, PHONE_CODE_EXPIRED and FLOOD_WAIT with its seconds', async () => {
    const accountId = await newAccount('errors');
    for (const body of [{}, { phone: '+99966', botToken: '1:abc' }, { phone: 'call me' }, { code: '1' }]) {
      const r = await login(accountId, '', body);
      expect([r.status, r.body.error.code], JSON.stringify(body)).toEqual([422, 'validation_failed']);
    }
    expect((await login(accountId, '/code', { code: '12345' })).status).toBe(409); // no sign-in waits for a code
    const invalid = await login(accountId, '', { phone: '+1 202 555 0123' });
    expect([invalid.status, invalid.body.error.details.telegramError, invalid.body.error.issues[0].path]).toEqual([
      422,
      'PHONE_NUMBER_INVALID',
      ['phone'],
    ]);
    expect((await user.call('GET', `/accounts/${accountId}`)).body.login).toMatchObject({ state: 'failed' });

    const phone = testPhone(3);
    secrets.push(phone);
    expect((await login(accountId, '', { phone })).body.state).toBe('code_sent');
    clockShiftMs += 6 * 60_000; // past the stand-in's 5-minute code lifetime
    const expired = await login(accountId, '/code', { code: '33333' });
    expect([expired.status, expired.body.error.details.telegramError]).toEqual([409, 'PHONE_CODE_EXPIRED']);

    expect((await login(accountId, '', { phone })).body.state).toBe('code_sent');
    const flood = await login(accountId, '', { phone }); // the stand-in allows 2 codes per number per hour
    expect([flood.status, flood.body.error.code, flood.body.error.details.telegramError]).toEqual([
      429,
      'login_refused',
      'FLOOD_WAIT',
    ]);
    expect(flood.body.error.details.seconds).toBeGreaterThan(0);
    expect(flood.headers.get('retry-after')).toBe(String(flood.body.error.details.seconds));
  });

  it('refuses codes past 5 wrong ones per account before Telegram is asked', async () => {
    const accountId = await newAccount('guessed');
    const phone = testPhone(2);
    secrets.push(phone);
    expect((await login(accountId, '', { phone })).body.state).toBe('code_sent');
    for (let i = 0; i < 5; i++) expect((await login(accountId, '/code', { code: '99999' })).status).toBe(422);
    // The right code: Telegram would accept it, so the refusal is ours.
    const refused = await login(accountId, '/code', { code: '22222' });
    expect([refused.status, refused.body.error.code, refused.body.error.details]).toEqual([429, 'quota_exceeded', {
      quota: 'login_failures_per_account',
      limit: 5,
    }]);
    expect((await user.call('GET', `/accounts/${accountId}`)).body.login.state).toBe('code_sent');
  });

  it("counts a user's wrong codes over all their accounts (here a quota of 1)", async () => {
    const other = await api.newUser();
    const c = await api.db.connect();
    await c.query(`insert into private.quota_overrides (owner_id, name, value) values ($1, 'login_failures', 1)`, [other.id]);
    await c.end();
    const first = (await other.call('POST', '/accounts', { label: 'first' })).body.id;
    const second = (await other.call('POST', '/accounts', { label: 'second' })).body.id;
    const phone = testPhone(1);
    secrets.push(phone);
    expect((await other.call('POST', `/accounts/${first}/login`, { phone })).body.state).toBe('code_sent');
    expect((await other.call('POST', `/accounts/${first}/login/code`, { code: '99999' })).status).toBe(422);
    expect((await other.call('POST', `/accounts/${second}/login`, { phone: testPhone(1) })).body.state).toBe('code_sent');
    const refused = await other.call('POST', `/accounts/${second}/login/code`, { code: '11111' });
    expect([refused.status, refused.body.error.details]).toEqual([429, { quota: 'login_failures', limit: 1 }]);
  });

  it('refuses sign-ins started past the user’s hourly allowance before the workers are asked (here 1)', async () => {
    const other = await api.newUser();
    const c = await api.db.connect();
    await c.query(`insert into private.quota_overrides (owner_id, name, value) values ($1, 'login_starts', 1)`, [other.id]);
    await c.end();
    const accountId = (await other.call('POST', '/accounts', { label: 'starts' })).body.id;
    const phone = testPhone(1);
    secrets.push(phone);
    expect((await other.call('POST', `/accounts/${accountId}/login`, { phone })).body.state).toBe('code_sent');
    const again = await other.call('POST', `/accounts/${accountId}/login`, { phone });
    expect([again.status, again.body.error.details]).toEqual([429, { quota: 'login_starts', limit: 1 }]);
    expect((await other.call('GET', `/accounts/${accountId}`)).body.login.state).toBe('code_sent');
  });

  it('drops a sign-in after its 10 minutes, and a step no worker took with its sealed secret', async () => {
    const accountId = await newAccount('slow');
    const phone = testPhone(1);
    secrets.push(phone);
    expect((await login(accountId, '', { phone })).body.state).toBe('code_sent');
    const c = await api.db.connect();
    try {
      // Ten minutes later, as the database sees it; the worker's next look marks the sign-in expired.
      await c.query(`update private.account_logins set expires_at = now() - interval '1 second' where account_id = $1`, [
        accountId,
      ]);
      await waitFor(
        'the sign-in expired',
        async () => (await user.call('GET', `/accounts/${accountId}`)).body.login.state === 'expired',
        10_000,
        100,
      );
      const late = await login(accountId, '/code', { code: '11111' });
      expect([late.status, late.body.error.code]).toEqual([409, 'conflict']);
      // A step sealed for a key no worker holds waits untaken; after 10 minutes it is deleted with its secret.
      await c.query(
        `insert into private.login_steps (account_id, owner_id, kind, key_id, sealed, created_at)
         values ($1, $2, 'phone', '0123456789abcdef', $3, now() - interval '10 minutes')`,
        [accountId, user.id, Buffer.alloc(64, 1)],
      );
      await waitFor(
        'the old step deleted',
        async () =>
          (await c.query('select count(*)::int n from private.login_steps where account_id = $1', [accountId])).rows[0].n === 0,
        10_000,
        100,
      );
    } finally {
      await c.end();
    }
  });

  it('npm run login -- --api signs a number in at a terminal (a pseudo-terminal here)', async () => {
    const accountId = await newAccount('cli');
    const phone = testPhone(2);
    const cmd = [
      process.execPath,
      join(REPO_ROOT, 'scripts/login.ts'),
      '--api',
      api.url,
      '--account',
      accountId,
      '--phone',
      phone,
    ];
    const child = spawn('script', ['-qfec', cmd.join(' '), '/dev/null'], {
      env: { ...process.env, LOGIN_ACCESS_TOKEN: user.token },
    });
    let out = '';
    let typed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      // Typed when asked: what is typed ahead reaches the CLI's terminal reader before its question.
      if (!typed && out.includes('Code Telegram sent (app):')) typed = child.stdin.write('22222\n') || true;
    });
    try {
      const code = await new Promise((resolve) => child.on('close', resolve));
      expect(code, out).toBe(0);
    } finally {
      child.kill();
    }
    expect(out).toContain(`Signed in as +${'•'.repeat(phone.length - 2)}${phone.slice(-2)}`);
    expect((await user.call('GET', `/accounts/${accountId}`)).body.login.state).toBe('signed_in');
    await waitFor('the account served', async () => worker.accounts().some((a) => a.id === accountId), 5_000, 20);
  });

  it('npm run login -- --stack --account signs in through the stack’s API, with no terminal', async () => {
    const accountId = await newAccount('stack');
    const phone = testPhone(3);
    const dir = await mkdtemp(join(tmpdir(), 'tg-login-stack-'));
    const s = standIn();
    const telegram = { dcs: s.dcs, publicKeyPem: s.publicKeyPem, apiId: s.apiId, apiHash: s.apiHash };
    await writeFile(join(dir, 'stack.json'), JSON.stringify({ functionsUrl: api.url, demoToken: user.token, telegram }));
    try {
      const run = await new Promise<{ code: number | null; err: string }>((resolve) => {
        const args = [join(REPO_ROOT, 'scripts/login.ts'), '--stack', '--dir', dir, '--account', accountId, '--phone', phone];
        execFile(
          process.execPath,
          args,
          { env: { PATH: process.env.PATH } },
          (e, _out, err) => resolve({ code: e ? (e.code as number) : 0, err }),
        );
      });
      expect(run.code, run.err).toBe(0);
      expect(run.err).toContain('Signed in as +');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect((await user.call('GET', `/accounts/${accountId}`)).body.login.state).toBe('signed_in');
  });

  it('keeps every secret out of the logs, the answers and what client roles can read', async () => {
    for (const secret of secrets) expect(lines.filter((l) => l.includes(secret)), secret).toEqual([]);
    const c = await api.db.connect();
    try {
      // Used steps are gone; nothing left holds a secret in any form a client role can read.
      expect((await c.query('select count(*)::int n from private.login_steps where sealed is not null')).rows[0].n).toBe(0);
      const refused = [
        'select * from private.login_steps',
        'select * from private.account_logins',
        'select * from private.login_keys',
        'select * from private.login_failures',
        `select * from public.worker_take_login_steps('${user.id}', '{}')`,
        `select public.worker_answer_login_step('${user.id}', '{}', false, false)`,
      ];
      for (const q of refused) {
        await expect(asUser(c, user.id, (u) => u.query(q)), q).rejects.toMatchObject({ code: '42501' });
        await expect(asAnon(c, (u) => u.query(q)), q).rejects.toMatchObject({ code: '42501' });
      }
      // Realtime lets only the owner join an account's topic.
      const accountId =
        (await c.query(`select id from public.telegram_accounts where owner_id = $1 and label = 'main'`, [user.id]))
          .rows[0].id;
      const join = (who: string) =>
        asUser(c, who, async (u) => {
          await u.query(`select set_config('realtime.topic', $1, true)`, [`account:${accountId}`]);
          return (await u.query('select count(*)::int n from realtime.messages where topic = realtime.topic()')).rows[0].n;
        });
      expect(await join(user.id)).toBeGreaterThan(0);
      expect(await join((await api.newUser()).id)).toBe(0);
      const rows = await asUser(c, user.id, (u) => u.query('select t::text r from public.telegram_accounts t'));
      const broadcasts = await c.query('select m::text r from realtime.messages m');
      for (const secret of secrets) {
        expect(rows.rows.filter((r) => r.r.includes(secret))).toEqual([]);
        expect(broadcasts.rows.filter((r) => r.r.includes(secret))).toEqual([]);
      }
      expect((await readSealedSessions(c, null)).length).toBeGreaterThanOrEqual(2);
    } finally {
      await c.end();
    }
  });
});
