// The webhooks function over HTTP: registration with its secret shown once, the URL rules (a 422
// naming `url`, nothing written), the quota, and tenant isolation through the API and through
// SQL as `authenticated` (another user's endpoints, log and every secret stay out of reach).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NON_PUBLIC_RANGES, WEBHOOK_EVENT_TYPES } from '../../contracts/webhooks.ts';
import { isPublicAddress } from '../../worker/src/public-address.ts';
import { asUser } from '../../scripts/test/db.ts';
import { type ApiFixture, expectErrorShape, startApi } from './functions-fixture.ts';

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api?.stop());

const allowPrivate = (on: boolean) =>
  api.db.connectAdmin().then(async (c) => {
    await c.query('update private.webhook_settings set allow_private_targets = $1', [on]);
    await c.end();
  });

describe('webhooks function', () => {
  it('registers an endpoint: the secret in the create answer only, then its prefix', async () => {
    await allowPrivate(true);
    const a = await api.newUser();
    const created = await a.call('POST', '/webhooks', {
      url: 'http://127.0.0.1:9/hook',
      events: ['campaign.completed', 'account.revoked'],
      description: 'ops',
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(created.body.secretPrefix).toBe(created.body.secret.slice(0, 10));
    const got = await a.call('GET', `/webhooks/${created.body.id}`);
    const listed = await a.call('GET', '/webhooks');
    const patched = await a.call('PATCH', `/webhooks/${created.body.id}`, { enabled: false, events: ['campaign.paused'] });
    expect(patched.body).toMatchObject({ enabled: false, events: ['campaign.paused'] });
    for (const r of [got, listed, patched]) {
      expect(r.status).toBe(200);
      expect(JSON.stringify(r.body)).not.toContain(created.body.secret.slice(10));
    }
    expect(listed.body.items.map((w: { id: string }) => w.id)).toEqual([created.body.id]);
    // every event type of the contract is one the database takes
    const all = await a.call('PATCH', `/webhooks/${created.body.id}`, { events: [...WEBHOOK_EVENT_TYPES] });
    expect(all.body.events).toEqual([...WEBHOOK_EVENT_TYPES]);
    expect((await a.call('DELETE', `/webhooks/${created.body.id}`)).status).toBe(204);
    expect((await a.call('GET', `/webhooks/${created.body.id}`)).status).toBe(404);
  });

  it('refuses private, loopback and non-https targets with a 422 naming url, and writes nothing', async () => {
    await allowPrivate(false);
    const a = await api.newUser();
    const before = await api.fingerprint();
    const refused = [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://10.1.2.3/hook',
      'https://100.64.0.1/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hook',
      'https://[fd00::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://localhost/hook',
      'https://printer.local/hook',
      'https://intranet/hook',
      'https://2130706433/hook',
      'https://0x7f.1/hook',
      'https://user:pw@example.com/hook',
      'https://no-such-host.invalid/hook',
    ];
    for (const url of refused) {
      const r = await a.call('POST', '/webhooks', { url, events: ['campaign.completed'] });
      expectErrorShape(r, 422, 'validation_failed');
      expect(r.body.error.issues?.[0]?.path, url).toEqual(['url']);
    }
    const bad = await a.call('POST', '/webhooks', { url: 'https://8.8.8.8/x', events: ['campaign.sent'] });
    expect(bad.body.error.issues[0].path).toEqual(['events', 0]);
    expect(await api.fingerprint()).toEqual(before);
    const { items } = (await a.call('GET', '/webhooks')).body;
    expect(items).toEqual([]);
  });

  it('a public address is taken; at most 10 endpoints per user', async () => {
    await allowPrivate(false);
    const a = await api.newUser();
    for (let i = 0; i < 10; i++) {
      expect((await a.call('POST', '/webhooks', { url: `https://8.8.8.${i}/h`, events: ['campaign.completed'] })).status).toBe(
        201,
      );
    }
    const over = await a.call('POST', '/webhooks', { url: 'https://8.8.4.4/h', events: ['campaign.completed'] });
    expectErrorShape(over, 422, 'quota_exceeded');
    expect(over.body.error.details).toEqual({ quota: 'webhook_endpoints', limit: 10 });
  });

  it("another user sees none of A's endpoints or log, through the API or SQL; nobody reads a secret", async () => {
    await allowPrivate(true);
    const [a, b] = [await api.newUser(), await api.newUser()];
    const hook = (await a.call('POST', '/webhooks', { url: 'http://127.0.0.1:9/h', events: ['campaign.completed'] })).body;
    expect((await a.call('POST', `/webhooks/${hook.id}/test`)).status).toBe(202);
    for (
      const [method, path, body] of [
        ['GET', `/webhooks/${hook.id}`],
        ['GET', `/webhooks/${hook.id}/deliveries`],
        ['PATCH', `/webhooks/${hook.id}`, { enabled: false }],
        ['DELETE', `/webhooks/${hook.id}`],
        ['POST', `/webhooks/${hook.id}/test`],
      ] as const
    ) {
      expectErrorShape(await b.call(method, path, body), 404, 'not_found');
    }
    expect((await b.call('GET', '/webhooks')).body.items).toEqual([]);
    const sql = await api.db.connect();
    const seen = await asUser(sql, b.id, async (c) => ({
      endpoints: (await c.query('select id from public.webhook_endpoints')).rowCount,
      deliveries: (await c.query('select id from public.webhook_deliveries')).rowCount,
      attempts: (await c.query('select id from public.webhook_attempts')).rowCount,
      updated: (await c.query('update public.webhook_endpoints set enabled = false')).rowCount,
    }));
    expect(seen).toEqual({ endpoints: 0, deliveries: 0, attempts: 0, updated: 0 });
    const own = await asUser(sql, a.id, async (c) => (await c.query('select id from public.webhook_deliveries')).rowCount);
    expect(own).toBe(1);
    for (const user of [a, b]) {
      await expect(asUser(sql, user.id, (c) => c.query('select secret from private.webhook_secrets'))).rejects.toThrow(
        /permission denied/,
      );
      await expect(asUser(sql, user.id, (c) => c.query('select public.worker_webhook_claim(gen_random_uuid(), 5)'))).rejects
        .toThrow(
          /permission denied/,
        );
    }
  });

  it('test events: at most 5 waiting per endpoint, then 429 naming the quota', async () => {
    await allowPrivate(true);
    const a = await api.newUser();
    const hook = (await a.call('POST', '/webhooks', { url: 'http://127.0.0.1:9/h', events: ['campaign.completed'] })).body;
    for (let i = 0; i < 5; i++) expect((await a.call('POST', `/webhooks/${hook.id}/test`)).status).toBe(202);
    const over = await a.call('POST', `/webhooks/${hook.id}/test`);
    expectErrorShape(over, 429, 'quota_exceeded');
    expect(over.body.error.details).toEqual({ quota: 'webhook_pending_tests', limit: 5 });
  });

  it("the database's ranges are the worker's, and both classify addresses alike", async () => {
    const sql = await api.db.connect();
    const { rows: [r] } = await sql.query(`select private.non_public_ranges() = $1::inet[] as same`, [[...NON_PUBLIC_RANGES]]);
    expect(r.same).toBe(true);
    const samples = [
      '8.8.8.8',
      '1.1.1.1',
      '127.0.0.1',
      '10.0.0.1',
      '172.31.255.255',
      '172.32.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '100.128.0.1',
      '169.254.169.254',
      '224.0.0.1',
      '255.255.255.255',
      '0.0.0.0',
      '::1',
      '::',
      '2606:4700::1111',
      'fe80::1',
      'fd12::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '64:ff9b::a00:1',
      '2001:db8::1',
    ];
    const { rows } = await sql.query(`select a, private.is_public_address(a::inet) as public from unnest($1::text[]) a`, [
      samples,
    ]);
    expect(rows.map((x) => [x.a, x.public])).toEqual(samples.map((a) => [a, isPublicAddress(a)]));
    expect(samples.filter(isPublicAddress)).toEqual(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111']);
  });
});
