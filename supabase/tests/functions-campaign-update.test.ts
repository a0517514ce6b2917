// PATCH /campaigns/:id over HTTP: 200 with the new values (also through the typed client), 409
// with details for a finished campaign or a started one's scheduledAt, 422 naming the field,
// 404 for another user's campaign; refused requests change nothing.
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient } from '../../contracts/client.ts';
import { withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
let channelIds: string[];
beforeAll(async () => {
  api = await startApi();
  a = await api.newUser();
  await a.call('POST', '/accounts', { label: 'Sender', ratePerMinute: 60 });
  const imported = await a.call('POST', '/channels/import', { peers: ['@upd_1', '@upd_2', '@upd_3'] });
  expect(imported.body.created).toBe(3);
  channelIds = (await a.call('GET', '/channels?limit=100')).body.items.map((c: any) => c.id);
});
afterAll(async () => {
  await api?.stop();
});

const create = async (extra: Record<string, unknown> = {}) => {
  const r = await a.call('POST', '/campaigns', { name: 'Orig', message: { text: 'x' }, channelIds, ...extra });
  expect(r.status).toBe(201);
  return r.body;
};

describe('PATCH /campaigns/:id', () => {
  it('answers 200 with the new values; absent fields stay and null clears', async () => {
    const c = await create({ ratePerMinute: 30, maxErrors: 5 });
    const at = '2031-05-06T07:08:09.000Z';
    const r = await a.call('PATCH', `/campaigns/${c.id}`, { name: 'Renamed', maxErrors: 9, scheduledAt: at });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: c.id, state: 'draft', name: 'Renamed', ratePerMinute: 30, maxErrors: 9, scheduledAt: at });
    expect((await a.call('GET', `/campaigns/${c.id}`)).body).toEqual(r.body);

    const cleared = await a.call('PATCH', `/campaigns/${c.id}`, { ratePerMinute: null, scheduledAt: null });
    expect(cleared.body).toMatchObject({ name: 'Renamed', ratePerMinute: null, maxErrors: 9, scheduledAt: null });

    // a paused campaign's threshold can be raised (the QA case), and it stays paused until resumed
    await a.call('POST', `/campaigns/${c.id}/start`);
    await a.call('POST', `/campaigns/${c.id}/pause`);
    const raised = await a.call('PATCH', `/campaigns/${c.id}`, { maxErrors: 50, ratePerMinute: 10 });
    expect(raised.body).toMatchObject({ state: 'paused', maxErrors: 50, ratePerMinute: 10 });
  });

  it('answers 409 with details for a completed campaign, and for scheduledAt once started', async () => {
    const c = await create();
    await a.call('POST', `/campaigns/${c.id}/start`);
    const late = await a.call('PATCH', `/campaigns/${c.id}`, { scheduledAt: '2031-01-01T00:00:00Z' });
    expectErrorShape(late, 409, 'illegal_transition');
    expect(late.body.error.details).toEqual({ from: 'running', to: 'running', action: 'update' });
    expect(late.body.error.message).toMatch(/scheduledAt/);

    await a.call('POST', `/campaigns/${c.id}/cancel`); // cancelling the rest: pending → cancelled
    const cancelled = await a.call('PATCH', `/campaigns/${c.id}`, { name: 'x' });
    expectErrorShape(cancelled, 409, 'illegal_transition');
    expect(cancelled.body.error.details).toEqual({ from: 'cancelled', to: 'cancelled', action: 'update' });

    const d = await create();
    await a.call('POST', `/campaigns/${d.id}/start`);
    // What the worker does through its RPCs, done here directly as the superuser.
    await withClient(api.db.adminUrl, (db) =>
      db.query(
        `update public.deliveries set state = 'sent', telegram_message_id = 1 where campaign_id = $1`,
        [d.id],
      ));
    expect((await a.call('GET', `/campaigns/${d.id}`)).body.state).toBe('completed');
    const before = await api.fingerprint();
    const done = await a.call('PATCH', `/campaigns/${d.id}`, { maxErrors: 10 });
    expectErrorShape(done, 409, 'illegal_transition');
    expect(done.body.error.details).toEqual({ from: 'completed', to: 'completed', action: 'update' });
    expect(done.body.error.message).toContain('completed');
    expect(await api.fingerprint()).toEqual(before);
  });

  it('answers 422 naming the field, and changes nothing', async () => {
    const c = await create();
    const before = await api.fingerprint();
    const cases: [unknown, (string | number)[]][] = [
      [{ maxErrors: -1 }, ['maxErrors']],
      [{}, []],
      [{ ratePerMinute: 0 }, ['ratePerMinute']],
      [{ ratePerMinute: 2.5 }, ['ratePerMinute']],
      [{ name: '' }, ['name']],
      [{ name: null }, ['name']],
      [{ scheduledAt: 'tomorrow' }, ['scheduledAt']],
      [{ name: 'ok', state: 'running' }, ['state']],
    ];
    for (const [body, path] of cases) {
      const r = await a.call('PATCH', `/campaigns/${c.id}`, body);
      expectErrorShape(r, 422, 'validation_failed');
      expect({ body, path: r.body.error.issues?.[0]?.path }).toEqual({ body, path });
    }
    expect(await api.fingerprint()).toEqual(before);
  });

  it("answers 404 for another user's campaign, and for one that does not exist", async () => {
    const c = await create();
    const b = await api.newUser();
    const before = await api.fingerprint();
    expectErrorShape(await b.call('PATCH', `/campaigns/${c.id}`, { name: 'Mine' }), 404, 'not_found');
    expectErrorShape(await a.call('PATCH', `/campaigns/${crypto.randomUUID()}`, { name: 'Nope' }), 404, 'not_found');
    expectErrorShape(await api.request('PATCH', `/campaigns/${c.id}`, { body: { name: 'anon' } }), 401, 'unauthorized');
    expect(await api.fingerprint()).toEqual(before);
  });

  it('works through the typed client as updateCampaign', async () => {
    const supabase = createClient(api.server.baseUrl, 'anon-key-unused-locally', {
      global: { headers: { Authorization: `Bearer ${a.token}` } },
      auth: { persistSession: false, autoRefreshToken: false },
    });
    const client = createApiClient(supabase);
    const c = await create();
    expect(await client.updateCampaign(c.id, { name: 'Via client', maxErrors: null })).toMatchObject({
      name: 'Via client',
      maxErrors: null,
    });
  });
});
