// A sign-in outlives the worker that started it: worker processes (gramjs mode, against the MTProto
// stand-in) are SIGKILLed between the steps of a sign-in through the API (the real functions over
// HTTP), and the next worker goes on with the stored state: the code on the auth key it was sent
// on, then the 2FA password on the same key (the stand-in, like Telegram, accepts them nowhere
// else). The account then posts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannel, history, signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { type ApiFixture, startApi, type User } from '../../supabase/tests/functions-fixture.ts';
import { waitFor } from './fixtures.ts';
import { standInEnv, workerProcesses } from './worker-processes.ts';

const KEY_TEXT = Buffer.alloc(32, 5).toString('base64');
const PASSWORD = 'hand over the horse';
const { standIn, track } = useStandIn();

let api: ApiFixture;
let user: User;
const workers = workerProcesses();

beforeAll(async () => {
  api = await startApi();
  user = await api.newUser();
}, 120_000);
afterAll(async () => {
  await api?.stop();
});

/** A worker process serving the database's accounts; resolves once it has started. */
const startWorkerProcess = () =>
  workers.start({ ...standInEnv(standIn()), DATABASE_URL: api.db.url, WORKER_SESSION_KEY: KEY_TEXT, POLLING_SECONDS: '1' });
const kill = workers.kill;

describe('sign-in hand-over', () => {
  it('finishes a sign-in (code, then 2FA password) on other workers after each one that took a step is killed', async () => {
    const phone = testPhone(2);
    const owner = track(await signedIn(standIn(), phone));
    const ch = await createChannel(owner, { username: 'hand_over_target' });
    await owner.updateTwoFaSettings({ newPassword: PASSWORD, hint: 'hand over' });
    const accountId = (await user.call('POST', '/accounts', { label: 'handed over', ratePerMinute: 600 })).body.id;

    const first = await startWorkerProcess();
    const sent = await user.call('POST', `/accounts/${accountId}/login`, { phone });
    expect([sent.status, sent.body.state], JSON.stringify(sent.body)).toEqual([200, 'code_sent']);
    await kill(first.child);

    const second = await startWorkerProcess();
    const code = await user.call('POST', `/accounts/${accountId}/login/code`, { code: '22222' });
    expect([code.status, code.body.state], JSON.stringify(code.body)).toEqual([200, 'password_needed']);
    expect(code.body.hint).toBe('hand over');
    expect(second.log()).toContain('sign-in taken up from its stored state');
    await kill(second.child);

    const third = await startWorkerProcess();
    const done = await user.call('POST', `/accounts/${accountId}/login/password`, { password: PASSWORD });
    expect([done.status, done.body.state], JSON.stringify(done.body)).toEqual([200, 'signed_in']);
    expect(third.log()).toContain('sign-in taken up from its stored state');

    // The session signed in on the handed-over key serves: the account posts.
    const channel = await user.call('POST', '/channels', { peer: '@hand_over_target' });
    const c = await user.call('POST', '/campaigns', {
      name: 'after hand-over',
      message: { text: 'signed in across three workers' },
      channelIds: [channel.body.id],
      accountId,
    });
    expect((await user.call('POST', `/campaigns/${c.body.id}/start`)).status).toBe(200);
    await waitFor(
      'the campaign completed',
      async () => (await user.call('GET', `/campaigns/${c.body.id}`)).body.state === 'completed',
      30_000,
      100,
    );
    expect((await history(owner, ch)).map((m) => m.message)).toEqual(['signed in across three workers']);
    for (const w of [first, second, third]) {
      expect(w.log()).not.toContain(PASSWORD);
      expect(w.log()).not.toContain(phone);
    }
    // The sign-in's sealed state went with it.
    const db = await api.db.connect();
    try {
      const { rows } = await db.query('select count(*)::int n from private.account_logins where account_id = $1', [accountId]);
      expect(rows[0].n).toBe(0);
    } finally {
      await db.end();
    }
  });
});
