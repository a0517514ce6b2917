// A gramjs worker with no account list serves the accounts whose sessions are stored sealed in
// the database: a session stored after it started is picked up with no restart and sends
// through the MTProto stand-in with its real GramJS network stack; a worker whose key opens no
// stored session refuses to start and changes nothing; no log line carries a session or a key.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
import { createLogger } from '../src/logger.ts';
import { storeSession } from '../src/sessions/store.ts';
import { parseSessionKey } from '../src/sessions/vault.ts';
import { startWorker } from '../src/worker.ts';
import { createCampaign, createWorld, startTestWorker, testConfig, waitFor, waitForState, type World } from './fixtures.ts';

const { standIn, track } = useStandIn();
const KEY_TEXT = Buffer.alloc(32, 1).toString('base64');
const OTHER_KEY_TEXT = Buffer.alloc(32, 2).toString('base64');
const KEY = parseSessionKey(KEY_TEXT);

function capturedLogger() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger('debug', dest), lines };
}

/** A session of a test number that may post to the new channel @<username> (an admin with postMessages). */
async function posterSession(username: string): Promise<string> {
  const s = standIn();
  const creator = track(await signedIn(s, testPhone(2)));
  const channel = await createChannel(creator, { username });
  const poster = await signedIn(s, testPhone(1));
  await poster.invoke(new Api.account.UpdateUsername({ username: `${username}_poster` }));
  await creator.invoke(
    new Api.channels.EditAdmin({
      channel: inputChannel(channel),
      userId: await resolveUser(creator, `${username}_poster`),
      adminRights: new Api.ChatAdminRights({ postMessages: true }),
      rank: '',
    }),
  );
  const session = poster.session.save() as unknown as string;
  await poster.destroy();
  sentTo.set(username, async () => (await history(creator, channel)).map((m) => m.message));
  return session;
}
const sentTo = new Map<string, () => Promise<string[]>>();

function gramjsConfig(w: World, sessionKey: string, extra: Record<string, unknown> = {}) {
  const s = standIn();
  return testConfig(w, {
    mode: 'gramjs',
    accounts: null,
    sessionKey,
    apiId: s.apiId,
    apiHash: s.apiHash,
    server: { dcs: s.dcs, publicKeyPem: s.publicKeyPem },
    sendTimeoutMs: 10_000,
    ...extra,
  });
}

async function campaignTo(w: World, username: string, text: string): Promise<string> {
  const { rows } = await w.sql.query(`insert into public.channels (owner_id, peer) values ($1, $2) returning id`, [
    w.userId,
    `@${username}`,
  ]);
  return createCampaign(w, { channelIds: [rows[0].id], text, parseMode: 'plain' });
}

describe('a gramjs worker without an account list', () => {
  it('serves a session stored after it started within 5 s, sends through the stand-in, and logs no secret', async () => {
    const w = await createWorld();
    const session = await posterSession('sealed_target');
    const campaignId = await campaignTo(w, 'sealed_target', 'sealed hello');
    const { logger, lines } = capturedLogger();
    // Only the session check finds it: the periodic re-read of accounts is an hour away.
    const worker = await startTestWorker(gramjsConfig(w, KEY_TEXT, { accountRefreshMs: 3_600_000, accountLockRetryMs: 2_000 }), {
      logger,
    });
    expect(worker.accounts()).toEqual([]);

    const storedAt = Date.now();
    await storeSession(w.sql, KEY, w.accountId, session);
    await waitFor('the account served', async () => worker.accounts().some((a) => a.id === w.accountId), 5_000, 20);
    const pickedUpMs = Date.now() - storedAt;
    await waitForState(w, campaignId, 'completed', 60_000);
    console.log(`[sealed-sessions] stored session served after ${pickedUpMs} ms`);

    expect(await sentTo.get('sealed_target')!()).toEqual(['sealed hello']);
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
    await expect(startWorker(gramjsConfig(w, OTHER_KEY_TEXT), { logger })).rejects.toThrow(
      new RegExp(
        `none of the 1 stored sessions opens with this worker's keys \\(${
          parseSessionKey(OTHER_KEY_TEXT).id
        }\\); they are sealed under ${KEY.id}`,
      ),
    );
    expect((await state()).rows[0]).toEqual(before);
    expect(lines.filter((l) => l.includes(session) || l.includes(OTHER_KEY_TEXT))).toEqual([]);

    // The same worker given the first key as an old one (a rotation under way) starts.
    const worker = await startTestWorker(gramjsConfig(w, OTHER_KEY_TEXT, { sessionKeysOld: [KEY_TEXT] }), { logger });
    await waitFor('the account served', async () => worker.accounts().some((a) => a.id === w.accountId), 10_000);
  });
});
