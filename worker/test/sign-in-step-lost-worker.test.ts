// A worker SIGKILLed while it performs a sign-in step (the stand-in holds the Telegram call, so the
// worker dies between sending it and the answer), through the real functions over HTTP:
// auth.sendCode and auth.signIn are not performed twice, and the caller gets 503
// login_interrupted at once, free to send its next request right away; auth.checkPassword and
// auth.importBotAuthorization are performed again by another worker, and the caller gets
// signed_in within its one wait.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { type ApiFixture, startApi, type User } from '../../supabase/tests/functions-fixture.ts';
import { waitFor } from './fixtures.ts';
import { standInEnv, type WorkerProcess, workerProcesses } from './worker-processes.ts';

const KEY_TEXT = Buffer.alloc(32, 6).toString('base64');
const PASSWORD = 'killed mid step';
const { standIn, track } = useStandIn();

let api: ApiFixture;
let user: User;
const workers = workerProcesses();
/** Releases the Telegram calls the stand-in holds (their workers are dead by then). */
const releases: (() => void)[] = [];

beforeAll(async () => {
  api = await startApi();
  user = await api.newUser();
}, 120_000);
afterEach(() => releases.splice(0).forEach((r) => r()));
afterAll(async () => {
  await api?.stop();
});

const startWorkerProcess = () =>
  workers.start({ ...standInEnv(standIn()), DATABASE_URL: api.db.url, WORKER_SESSION_KEY: KEY_TEXT, POLLING_SECONDS: '1' });

/** The worker whose log shows it took a step of this kind. */
const tookStep = (w: WorkerProcess, kind: string) =>
  w.log().split('\n').some((l) => l.includes('"sign-in step taken"') && l.includes(`"loginStep":"${kind}"`));

/**
 * Holds the next call of `method` at the stand-in and SIGKILLs the worker (of `running`) that
 * made it; resolves to the killed one.
 */
function killDuring(method: string, kind: string, running: WorkerProcess[]): Promise<WorkerProcess> {
  let release!: () => void;
  releases.push(() => release());
  return new Promise((resolve, reject) => {
    standIn().model.faults.add({
      method,
      times: 1,
      until: new Promise<void>((r) => (release = r)),
      onMatch: () =>
        void (async () => {
          await waitFor(
            `the worker that took the ${kind} step logged it`,
            async () => running.some((w) => tookStep(w, kind)),
            10_000,
            20,
          );
          const taker = running.find((w) => tookStep(w, kind))!;
          await workers.kill(taker.child);
          resolve(taker);
        })().catch(reject),
    });
  });
}

describe('sign-in step of a worker that died', () => {
  it('imports a bot token again on another worker when the one importing it dies', async () => {
    const { token } = standIn().model.accounts.createBot('lost_worker_bot');
    const accountId = (await user.call('POST', '/accounts', { label: 'bot of a dead worker' })).body.id;
    const running = [await startWorkerProcess(), await startWorkerProcess()];
    const killed = killDuring('auth.importBotAuthorization', 'bot', running);
    const r = await user.call('POST', `/accounts/${accountId}/login`, { botToken: token });
    const dead = await killed;
    expect([r.status, r.body.state], JSON.stringify(r.body)).toEqual([200, 'signed_in']);
    expect(running.find((w) => w !== dead)!.log()).toContain('"loginStep":"bot"');
    for (const w of running) expect(w.log()).not.toContain(token);
  });

  it('answers login_interrupted for sendCode and signIn, retries checkPassword on another worker', async () => {
    const phone = testPhone(2);
    const owner = track(await signedIn(standIn(), phone));
    await owner.updateTwoFaSettings({ newPassword: PASSWORD, hint: 'mid step' });
    const accountId = (await user.call('POST', '/accounts', { label: 'killed mid step' })).body.id;

    // auth.sendCode: a code may have gone out on a connection now lost; start again, at once.
    const a = await startWorkerProcess();
    const killedA = killDuring('auth.sendCode', 'phone', [a]);
    const lost = await user.call('POST', `/accounts/${accountId}/login`, { phone });
    await killedA;
    expect([lost.status, lost.body.error?.code], JSON.stringify(lost.body)).toEqual([503, 'login_interrupted']);
    expect(lost.body.error.message).toContain('start again');
    expect((await user.call('GET', `/accounts/${accountId}`)).body.login).toMatchObject({
      state: 'failed',
      error: { code: 'STEP_INTERRUPTED' },
    });

    const b = await startWorkerProcess();
    const c = await startWorkerProcess();
    const sent = await user.call('POST', `/accounts/${accountId}/login`, { phone });
    expect([sent.status, sent.body.state], JSON.stringify(sent.body)).toEqual([200, 'code_sent']);

    // auth.signIn: Telegram may have used the code; the caller sends it again, at once.
    const killedCode = killDuring('auth.signIn', 'code', [b, c]);
    const interrupted = await user.call('POST', `/accounts/${accountId}/login/code`, { code: '22222' });
    const survivor = (await killedCode) === b ? c : b;
    expect([interrupted.status, interrupted.body.error?.code], JSON.stringify(interrupted.body)).toEqual([
      503,
      'login_interrupted',
    ]);
    expect(interrupted.body.error.message).toContain('send the code again');
    const again = await user.call('POST', `/accounts/${accountId}/login/code`, { code: '22222' });
    expect([again.status, again.body.state], JSON.stringify(again.body)).toEqual([200, 'password_needed']);

    // auth.checkPassword: performed again by the other live worker within the caller's wait.
    const d = await startWorkerProcess();
    const running = [survivor, d];
    const killedPassword = killDuring('auth.checkPassword', 'password', running);
    const done = await user.call('POST', `/accounts/${accountId}/login/password`, { password: PASSWORD });
    const killedLast = await killedPassword;
    expect([done.status, done.body.state], JSON.stringify(done.body)).toEqual([200, 'signed_in']);
    expect(running.filter((w) => w !== killedLast).some((w) => tookStep(w, 'password'))).toBe(true);

    for (const w of [a, b, c, d]) {
      expect(w.log()).not.toContain(PASSWORD);
      expect(w.log()).not.toContain(phone);
    }
    const db = await api.db.connect();
    try {
      const { rows } = await db.query(
        `select (select count(*)::int from private.account_logins where account_id = $1) logins,
          (select count(*)::int from private.login_steps where account_id = $1) steps`,
        [accountId],
      );
      expect(rows[0]).toEqual({ logins: 0, steps: 0 });
    } finally {
      await db.end();
    }
  });
});
