// `npm run accounts -- import | rotate-key`, run as a process as an operator runs it: import
// stores each session sealed, once; rotate-key re-seals every row under the new key while a
// worker holding old and new keys keeps serving its account without a restart, after which a
// worker with only the old key can no longer start. Neither prints a session or a key.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import { useStandIn } from '../../scripts/telegram/testing.ts';
import { readSealedSessions, resealSession, storeSession } from '../src/sessions/store.ts';
import { openSealed, parseSessionKey, seal } from '../src/sessions/vault.ts';
import { startWorker } from '../src/worker.ts';
import { createWorld, startTestWorker, waitFor, waitForState, type World } from './fixtures.ts';
import { campaignTo, capturedLogger, gramjsConfig, poster } from './stand-in-accounts.ts';

const { standIn, track } = useStandIn();
const OLD = Buffer.alloc(32, 3).toString('base64');
const NEW = Buffer.alloc(32, 4).toString('base64');
const [oldKey, newKey] = [parseSessionKey(OLD), parseSessionKey(NEW)];

function accounts(command: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'scripts/accounts.ts'), command],
      { env: { PATH: process.env.PATH, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, out: stdout + stderr }),
    );
  });
}

const sealedRow = async (w: World) => (await readSealedSessions(w.sql, [w.accountId]))[0];

describe('npm run accounts', () => {
  it('import stores each session sealed once, and stores nothing when an account is unknown', async () => {
    const w = await createWorld();
    const session = '1BQANOTEuMTA4LjU2LjE1MAG7-a-session-string';
    const env = {
      DATABASE_URL: w.db.url,
      WORKER_SESSION_KEY: OLD,
      TELEGRAM_ACCOUNTS: JSON.stringify([{ accountId: w.accountId, session }]),
    };
    const first = await accounts('import', env);
    expect(first).toEqual({ code: 0, out: `imported 1 session(s) sealed under key ${oldKey.id}; 0 already stored\n` });
    const row = await sealedRow(w);
    expect(row!.session.keyId).toBe(oldKey.id);

    const again = await accounts('import', env);
    expect(again).toEqual({ code: 0, out: `imported 0 session(s) sealed under key ${oldKey.id}; 1 already stored\n` });
    expect((await sealedRow(w))!.session.nonce).toEqual(row!.session.nonce);

    const unknown = '00000000-0000-4000-8000-00000000beef';
    const bad = await accounts('import', {
      ...env,
      TELEGRAM_ACCOUNTS: JSON.stringify([{ accountId: w.accountId, session: 'another' }, { accountId: unknown, session }]),
    });
    expect(bad.code).toBe(2);
    expect(bad.out).toContain(`not in telegram_accounts: ${unknown}`);
    expect((await sealedRow(w))!.session.nonce).toEqual(row!.session.nonce);
    for (const r of [first, again, bad]) expect(r.out).not.toContain(session.slice(0, 20));
  });

  it('rotate-key re-seals every row while a worker with both keys keeps sending; the old key alone then opens nothing', async () => {
    const w = await createWorld();
    const { session, posted } = await poster(standIn(), track, 'rotate_target');
    const env = { DATABASE_URL: w.db.url, TELEGRAM_ACCOUNTS: JSON.stringify([{ accountId: w.accountId, session }]) };
    expect((await accounts('import', { ...env, WORKER_SESSION_KEY: OLD })).code).toBe(0);
    const { logger, lines } = capturedLogger();
    const worker = await startTestWorker(gramjsConfig(standIn(), w, NEW, { sessionKeysOld: [OLD] }), { logger });
    await waitForState(w, await campaignTo(w, 'rotate_target', 'before the rotation'), 'completed', 60_000);
    const served = worker.accounts()[0]!;
    const reads = () => lines.filter((l) => l.includes('stored sessions read again')).length;
    const readsBefore = reads();

    const rotated = await accounts('rotate-key', {
      DATABASE_URL: w.db.url,
      WORKER_SESSION_KEY: NEW,
      WORKER_SESSION_KEYS_OLD: OLD,
    });
    expect(rotated).toEqual({ code: 0, out: `re-sealed 1 session(s) under key ${newKey.id}; 0 left under other keys\n` });
    expect((await sealedRow(w))!.session.keyId).toBe(newKey.id);
    await waitFor('the worker read the re-sealed row', async () => reads() > readsBefore, 10_000);

    await waitForState(w, await campaignTo(w, 'rotate_target', 'after the rotation'), 'completed', 60_000);
    expect((await posted()).sort()).toEqual(['after the rotation', 'before the rotation']);
    // The same account object, running: re-sealing the same session restarted nothing.
    expect(worker.accounts()).toEqual([served]);
    expect(served.status).toBe('running');
    await expect(startWorker(gramjsConfig(standIn(), w, OLD), { logger })).rejects.toThrow(/none of the 1 stored sessions opens/);
    for (const l of [...lines, rotated.out]) expect(l).not.toContain(session);
    for (const l of [...lines, rotated.out]) expect(l).not.toContain(NEW);
  });

  it('a re-seal of a row stored anew since it was read changes nothing', async () => {
    const w = await createWorld();
    await storeSession(w.sql, oldKey, w.accountId, 'first');
    const read = (await sealedRow(w))!;
    await storeSession(w.sql, oldKey, w.accountId, 'second');
    expect(await resealSession(w.sql, read, seal(newKey, 'first'), null)).toBe(false);
    const now = (await sealedRow(w))!;
    expect(now.session.keyId).toBe(oldKey.id);
    expect(openSealed([oldKey], now.session)).toBe('second');
  });

  it('rotate-key re-seals an account’s proxy with its session', async () => {
    const w = await createWorld();
    await storeSession(w.sql, oldKey, w.accountId, 'a-session');
    const proxy = JSON.stringify({ type: 'socks5', host: '127.0.0.1', port: 1080, username: 'u', password: 'proxy-password' });
    const sealed = seal(oldKey, proxy);
    await w.sql.query(
      'update private.account_sessions set proxy_key_id = $2, proxy_nonce = $3, proxy_ciphertext = $4 where account_id = $1',
      [w.accountId, sealed.keyId, sealed.nonce, sealed.ciphertext],
    );
    const rotated = await accounts('rotate-key', {
      DATABASE_URL: w.db.url,
      WORKER_SESSION_KEY: NEW,
      WORKER_SESSION_KEYS_OLD: OLD,
    });
    expect(rotated.code, rotated.out).toBe(0);
    expect(rotated.out).not.toContain('proxy-password');
    const row = (await sealedRow(w))!;
    expect([row.session.keyId, row.proxy?.keyId]).toEqual([newKey.id, newKey.id]);
    expect([openSealed([newKey], row.session), openSealed([newKey], row.proxy!)]).toEqual(['a-session', proxy]);
  });
});
