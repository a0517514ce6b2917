// A gramjs worker with no account list serves the accounts whose sessions are stored sealed in
// the database: a session stored after it started is picked up with no restart and sends
// through the MTProto stand-in with its real GramJS network stack; a worker whose key opens no
// stored session refuses to start and changes nothing; no log line carries a session or a key.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import { signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { Api } from 'telegram';
import { standInClient } from '../../scripts/telegram/client.ts';
import { SHARED_SESSION_NAME } from '../src/fleet-share.ts';
import { ServedSessions } from '../src/sessions/served.ts';
import { readSealedSessions, storeSession } from '../src/sessions/store.ts';
import { parseSessionKey } from '../src/sessions/vault.ts';
import { startWorker } from '../src/worker.ts';
import { addAccount, campaign, createWorld, startTestWorker, waitFor, waitForState } from './fixtures.ts';
import { campaignTo, capturedLogger, gramjsConfig, poster } from './stand-in-accounts.ts';

const { standIn, track } = useStandIn();
const KEY_TEXT = Buffer.alloc(32, 1).toString('base64');
const OTHER_KEY_TEXT = Buffer.alloc(32, 2).toString('base64');
const KEY = parseSessionKey(KEY_TEXT);

describe('a gramjs worker without an account list', () => {
  it('serves a session stored after it started within 5 s, sends through the stand-in, and logs no secret', async () => {
    const w = await createWorld();
    const { session, posted } = await poster(standIn(), track, 'sealed_target');
    const campaignId = await campaignTo(w, 'sealed_target', 'sealed hello');
    const { logger, lines } = capturedLogger();
    // Only the session check finds it: the periodic re-read of accounts is an hour away.
    const worker = await startTestWorker(
      gramjsConfig(standIn(), w, KEY_TEXT, { accountRefreshMs: 3_600_000, accountLockRetryMs: 2_000 }),
      {
        logger,
      },
    );
    expect(worker.accounts()).toEqual([]);

    const storedAt = Date.now();
    await storeSession(w.sql, KEY, w.accountId, session);
    await waitFor('the account served', async () => worker.accounts().some((a) => a.id === w.accountId), 5_000, 20);
    const pickedUpMs = Date.now() - storedAt;
    await waitForState(w, campaignId, 'completed', 60_000);
    console.log(`[sealed-sessions] stored session served after ${pickedUpMs} ms`);

    expect(await posted()).toEqual(['sealed hello']);
    expect(lines.some((l) => l.includes('account running'))).toBe(true);
    for (const secret of [session, session.slice(1, 41), KEY_TEXT]) {
      expect(lines.filter((l) => l.includes(secret))).toEqual([]);
    }
  });

  it('refuses to start when its key opens none of the stored sessions, and changes nothing', async () => {
    const w = await createWorld();
    const login = await signedIn(standIn(), testPhone(3));
    const session = login.session.save() as unknown as string;
    await login.destroy();
    await storeSession(w.sql, KEY, w.accountId, session);
    const state = () =>
      w.sql.query(`select (select string_agg(s::text, ',') from private.account_sessions s) sessions,
        (select string_agg(a::text, ',') from public.telegram_accounts a) accounts,
        (select count(*) from pgboss.job) jobs`);
    const before = (await state()).rows[0];
    const { logger, lines } = capturedLogger();
    await expect(startWorker(gramjsConfig(standIn(), w, OTHER_KEY_TEXT), { logger })).rejects.toThrow(
      new RegExp(
        `none of the 1 stored sessions opens with this worker's keys \\(it holds ${
          parseSessionKey(OTHER_KEY_TEXT).id
        }\\); they are sealed under ${KEY.id}`,
      ),
    );
    expect((await state()).rows[0]).toEqual(before);
    expect(lines.filter((l) => l.includes(session) || l.includes(OTHER_KEY_TEXT))).toEqual([]);

    // As an operator starts it: `npm run worker` exits 1 with the reason on its log.
    const s = standIn();
    const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, [join(REPO_ROOT, 'worker/src/main.ts')], {
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: w.db.url,
          TELEGRAM_MODE: 'gramjs',
          WORKER_SESSION_KEY: OTHER_KEY_TEXT,
          TELEGRAM_API_ID: String(s.apiId),
          TELEGRAM_API_HASH: s.apiHash,
          TELEGRAM_SERVER: JSON.stringify({ dcs: s.dcs, publicKeyPem: s.publicKeyPem }),
          WORKER_HTTP_PORT: '0',
        },
      }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, out: stdout + stderr }));
    });
    expect(run.code).toBe(1);
    expect(run.out).toContain('worker failed to start');
    expect(run.out).toContain(`none of the 1 stored sessions opens with this worker's keys`);
    expect(run.out).not.toContain(OTHER_KEY_TEXT);
    expect((await state()).rows[0]).toEqual(before);

    // The same worker given the first key as an old one (a rotation under way) starts.
    const worker = await startTestWorker(gramjsConfig(standIn(), w, OTHER_KEY_TEXT, { sessionKeysOld: [KEY_TEXT] }), { logger });
    await waitFor('the account served', async () => worker.accounts().some((a) => a.id === w.accountId), 10_000);
  });

  it('refuses to start when some stored sessions are sealed under a key it lacks (an old key dropped mid-rotation)', async () => {
    const w = await createWorld();
    const other = await addAccount(w.sql, w.userId, 60);
    // Half a rotation: one row re-sealed under the new key, the other still under the old one.
    await storeSession(w.sql, KEY, w.accountId, 'session under the old key');
    await storeSession(w.sql, parseSessionKey(OTHER_KEY_TEXT), other, 'session under the new key');
    const state = () =>
      w.sql.query(
        `select (select string_agg(s::text, ',' order by s.account_id) from private.account_sessions s) sessions,
        (select string_agg(a::text, ',' order by a.id) from public.telegram_accounts a) accounts,
        (select count(*) from pg_stat_activity where datname = current_database() and application_name = $1) workers`,
        [
          SHARED_SESSION_NAME,
        ],
      );
    const before = (await state()).rows[0];
    const { logger, lines } = capturedLogger();
    await expect(startWorker(gramjsConfig(standIn(), w, OTHER_KEY_TEXT), { logger })).rejects.toThrow(
      `1 of the 2 stored sessions are sealed under keys this worker lacks (it holds ${
        parseSessionKey(OTHER_KEY_TEXT).id
      }); they are sealed under ${KEY.id}: set WORKER_SESSION_KEY (or WORKER_SESSION_KEYS_OLD during a rotation) to that key`,
    );
    // Nothing changed, and it never counted among the workers sharing the accounts.
    expect((await state()).rows[0]).toEqual(before);
    expect(lines.filter((l) => l.includes('session under') || l.includes(OTHER_KEY_TEXT))).toEqual([]);
    // Given the old key as well, the same worker opens both.
    const both = new ServedSessions([parseSessionKey(OTHER_KEY_TEXT), KEY], logger);
    await both.load(w.sql, 100);
    expect([both.get(w.accountId), both.get(other)]).toEqual(['session under the old key', 'session under the new key']);
  });

  it('a session Telegram revokes is marked revoked and deleted; a new sign-in is served with no restart, another one replaces it', async () => {
    const w = await createWorld();
    const { session } = await poster(standIn(), track, 'revoked_target');
    await storeSession(w.sql, KEY, w.accountId, session);
    const { logger, lines } = capturedLogger();
    const worker = await startTestWorker(gramjsConfig(standIn(), w, KEY_TEXT), { logger });
    await waitFor('the account running', async () => worker.accounts()[0]?.status === 'running', 15_000);
    // The account's owner ends the session from another device: auth.logOut on the same auth key.
    const elsewhere = track(standInClient(standIn(), { session }));
    await elsewhere.connect();
    await elsewhere.invoke(new Api.auth.LogOut());

    const campaignId = await campaignTo(w, 'revoked_target', 'never sent');
    await waitFor('the campaign paused', async () => (await campaign(w, campaignId)).pause_reason === 'account', 30_000);
    const account = await w.sql.query('select status, status_reason from public.telegram_accounts where id = $1', [w.accountId]);
    expect(account.rows[0]).toEqual({ status: 'revoked', status_reason: expect.stringMatching(/^AUTH_KEY_UNREGISTERED/) });
    expect(await readSealedSessions(w.sql, [w.accountId])).toEqual([]);
    await waitFor('the account dropped', async () => worker.accounts().length === 0, 10_000);

    // A new sign-in stored: the account is active again and served by the same worker.
    const again = await signedIn(standIn(), testPhone(3));
    await storeSession(w.sql, KEY, w.accountId, again.session.save() as unknown as string);
    await again.destroy();
    expect((await w.sql.query('select status from public.telegram_accounts where id = $1', [w.accountId])).rows[0].status)
      .toBe('active');
    await waitFor('the account running again', async () => worker.accounts()[0]?.status === 'running', 15_000);

    // Another session stored for the running account: it starts over with that one.
    const first = worker.accounts()[0]!;
    const third = await signedIn(standIn(), testPhone(3));
    await storeSession(w.sql, KEY, w.accountId, third.session.save() as unknown as string);
    await third.destroy();
    await waitFor('the account running with the new session', async () => {
      const a = worker.accounts()[0];
      return a !== undefined && a !== first && a.status === 'running';
    }, 15_000);
    expect(first.status).toBe('stopped');
    expect(lines.filter((l) => l.includes('account has a new session or proxy: restarting it'))).toHaveLength(1);
  });
});
