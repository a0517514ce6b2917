// Sealed Telegram sessions: no client role reads the table or calls its RPCs, whether as the
// account's own owner, anon or the functions' login role; only the service role (the worker's)
// stores, lists and reads them, and then only sealed. A revoked session is deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { asAnon, asServiceRole, asUser, createTestDatabase, type TestDatabase } from '../../scripts/test/db.ts';
import { asFunctionsRole } from '../../scripts/lib/database.ts';
import { parseSessionKey } from '../../worker/src/sessions/vault.ts';
import { readSealedSessions, storeSession } from '../../worker/src/sessions/store.ts';
import { makeOwner, type Owner } from './fixtures.ts';

const KEY = parseSessionKey(Buffer.alloc(32, 7).toString('base64'));
const SESSION = '1BVtsOK8Bu-a-session-string-that-is-a-full-takeover';

let db: TestDatabase;
let client: pg.Client;
let owner: Owner;

beforeAll(async () => {
  db = await createTestDatabase();
  client = await db.connect();
  owner = await makeOwner(db, client, 1, 'sess');
  await asServiceRole(client, (c) => storeSession(c, KEY, owner.accountId, SESSION));
});
afterAll(async () => {
  await db.drop();
});

const reads = () => [
  'select * from private.account_sessions',
  `select public.worker_store_session('${owner.accountId}', '0123456789abcdef', '\\x000000000000000000000000', '\\x00000000000000000000000000000000ff')`,
  `select * from public.worker_sealed_sessions(null)`,
  `select * from public.worker_sealed_sessions('{${owner.accountId}}')`,
  `select * from public.worker_session_accounts(10)`,
  `select public.worker_sessions_version()`,
  `select public.worker_reseal_session('${owner.accountId}', '\\x00', '0123456789abcdef', '\\x00', '\\x00')`,
  // Proxies and sign-ins in progress are kept sealed the same way.
  'select * from private.account_proxy_requests',
  `select * from public.worker_proxy_requests('{0123456789abcdef}')`,
  `select * from public.worker_account_proxy('${owner.accountId}')`,
  `select public.worker_store_proxy('${owner.accountId}', now(), '0123456789abcdef', '\\x00', '\\x00')`,
  `select public.worker_store_login_state('${owner.accountId}', '0123456789abcdef', '\\x00', '\\x00')`,
];

describe('sealed sessions', () => {
  it('the account’s owner and anon can read the table or call the RPCs in no way', async () => {
    for (const q of reads()) {
      await expect(asUser(client, owner.userId, (c) => c.query(q)), q).rejects.toMatchObject({ code: '42501' });
      await expect(asAnon(client, (c) => c.query(q)), q).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('nor can the functions’ login role, connected as the functions connect', async () => {
    const fn = new pg.Client({ connectionString: asFunctionsRole(db.url) });
    await fn.connect();
    try {
      for (const q of reads()) await expect(fn.query(q), q).rejects.toMatchObject({ code: '42501' });
    } finally {
      await fn.end();
    }
  });

  it('the service role reads the table only through the RPCs, and gets ciphertext', async () => {
    await expect(asServiceRole(client, (c) => c.query('select * from private.account_sessions'))).rejects.toMatchObject({
      code: '42501',
    });
    const [row] = await asServiceRole(client, (c) => readSealedSessions(c, [owner.accountId]));
    expect(row!.session.keyId).toBe(KEY.id);
    expect(row!.session.ciphertext.length).toBe(Buffer.byteLength(SESSION) + 16);
    expect(row!.session.ciphertext.includes(Buffer.from(SESSION.slice(0, 12)))).toBe(false);
    // Nothing in the whole row, as text, shows the session.
    const raw = await client.query('select s::text t from private.account_sessions s');
    expect(raw.rows[0].t).not.toContain(SESSION.slice(0, 12));
  });

  it('a session Telegram revoked is deleted as the account is marked revoked; a new one makes it active', async () => {
    await asServiceRole(
      client,
      (c) => c.query(`select public.worker_account_status($1, 'revoked', 'AUTH_KEY_UNREGISTERED')`, [owner.accountId]),
    );
    expect((await client.query('select count(*)::int n from private.account_sessions')).rows[0].n).toBe(0);
    expect((await client.query('select status from public.telegram_accounts where id = $1', [owner.accountId])).rows[0].status)
      .toBe('revoked');
    await asServiceRole(client, (c) => storeSession(c, KEY, owner.accountId, SESSION));
    expect((await client.query('select status from public.telegram_accounts where id = $1', [owner.accountId])).rows[0].status)
      .toBe('active');
  });

  it('a session for an account that does not exist is refused, and nothing is stored', async () => {
    await expect(asServiceRole(client, (c) => storeSession(c, KEY, '00000000-0000-4000-8000-00000000dead', SESSION)))
      .rejects.toMatchObject({ code: 'PT404' });
  });
});
