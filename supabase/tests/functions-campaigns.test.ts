// Campaigns over HTTP: creation (201 draft), counts, deliveries with filters and cursors, every
// transition and the 409 with the current state, through raw fetch and through the typed
// supabase-js client of contracts/. Also prints the p50 latency of POST /campaigns with 100 targets.
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, ApiRequestError, createApiClient } from '../../contracts/client.ts';
import { withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
let accountId: string;
let channelIds: string[];
beforeAll(async () => {
  api = await startApi();
  a = await api.newUser();
  accountId = (await a.call('POST', '/accounts', { label: 'Sender', ratePerMinute: 60 })).body.id;
  const imported = await a.call('POST', '/channels/import', {
    peers: Array.from({ length: 100 }, (_, i) => `@target_${String(i).padStart(3, '0')}`),
  });
  expect(imported.body.created).toBe(100);
  const ids: string[] = [];
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page: any = await a.call('GET', `/channels?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    ids.push(...page.body.items.map((c: any) => c.id));
    cursor = page.body.nextCursor;
  }
  channelIds = ids;
});
afterAll(async () => {
  await api?.stop();
});

describe('campaigns over HTTP', () => {
  it('creates a draft from a message, with counts, and lists deliveries by page and state', async () => {
    const r = await a.call('POST', '/campaigns', {
      name: 'Launch',
      message: { text: 'Hi {{who}}', parseMode: 'html', silent: true },
      variables: { who: 'all' },
      channelIds: channelIds.slice(0, 30),
      maxErrors: 5,
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      state: 'draft',
      pauseReason: null,
      resumeAt: null,
      accountId,
      maxErrors: 5,
      message: { text: 'Hi all', parseMode: 'html', silent: true, linkPreview: true },
      counts: { total: 30, pending: 30, sent: 0, failed: 0, cancelled: 0 },
    });
    const id = r.body.id;
    expect((await a.call('GET', `/campaigns/${id}`)).body).toEqual(r.body);

    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await a.call(
        'GET',
        `/campaigns/${id}/deliveries?state=pending&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      for (const d of page.body.items) {
        expect(d).toMatchObject({ campaignId: id, state: 'pending', attempts: 0, errorCode: null, telegramMessageId: null });
        seen.add(d.id);
      }
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen.size).toBe(30);
    expect(pages).toBe(5);
    expect((await a.call('GET', `/campaigns/${id}/deliveries?state=sent`)).body.items).toEqual([]);
    expectErrorShape(await a.call('GET', `/campaigns/${id}/deliveries?state=lost`), 422);
    expect((await a.call('GET', '/campaigns?state=draft')).body.items.map((c: any) => c.id)).toContain(id);
  });

  it('walks the state machine and answers 409 with the current state on illegal transitions', async () => {
    const c =
      (await a.call('POST', '/campaigns', { name: 'Flow', message: { text: 'x' }, channelIds: channelIds.slice(0, 3) })).body;
    const illegal = async (action: string, from: string) => {
      const r = await a.call('POST', `/campaigns/${c.id}/${action}`);
      expectErrorShape(r, 409, 'illegal_transition');
      expect(r.body.error.details).toMatchObject({ from, action });
    };
    await illegal('pause', 'draft');
    await illegal('resume', 'draft');
    await illegal('retry-failed', 'draft');
    const started = await a.call('POST', `/campaigns/${c.id}/start`);
    expect(started.status).toBe(200);
    expect(started.body.state).toBe('running');
    await illegal('start', 'running');
    expect((await a.call('POST', `/campaigns/${c.id}/pause`)).body).toMatchObject({ state: 'paused', pauseReason: 'manual' });
    expect((await a.call('POST', `/campaigns/${c.id}/resume`)).body).toMatchObject({ state: 'running', pauseReason: null });
    const retry = await a.call('POST', `/campaigns/${c.id}/retry-failed`);
    expectErrorShape(retry, 409); // running but nothing failed
    const cancelled = await a.call('POST', `/campaigns/${c.id}/cancel`);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', counts: { total: 3, pending: 0, cancelled: 3 } });
    await illegal('cancel', 'cancelled');
    await illegal('resume', 'cancelled');
    expectErrorShape(await a.call('DELETE', `/campaigns/${c.id}`), 405, 'method_not_allowed');
    // the account is still used by campaigns: 409, not a cascade
    expectErrorShape(await a.call('DELETE', `/accounts/${accountId}`), 409, 'conflict');
  });

  it('retries failed deliveries after the worker recorded failures', async () => {
    const c =
      (await a.call('POST', '/campaigns', { name: 'Retry', message: { text: 'x' }, channelIds: channelIds.slice(0, 2) })).body;
    await a.call('POST', `/campaigns/${c.id}/start`);
    // What the worker does through its RPCs, done here directly as the superuser.
    await withClient(api.db.adminUrl, (db) =>
      db.query(
        `update public.deliveries set state = 'failed', error_code = 'CHAT_WRITE_FORBIDDEN' where campaign_id = $1`,
        [c.id],
      ));
    const failed = await a.call('GET', `/campaigns/${c.id}/deliveries?state=failed`);
    expect(failed.body.items.map((d: any) => d.errorCode)).toEqual(['CHAT_WRITE_FORBIDDEN', 'CHAT_WRITE_FORBIDDEN']);
    expect((await a.call('GET', `/campaigns/${c.id}`)).body).toMatchObject({ state: 'completed', counts: { failed: 2 } });
    const retried = await a.call('POST', `/campaigns/${c.id}/retry-failed`);
    expect(retried.body).toMatchObject({ state: 'running', counts: { failed: 0, pending: 2 } });
  });

  it('refuses bad campaign bodies with field-level issues, and leaves no rows behind', async () => {
    const before = await api.fingerprint();
    const cases: [unknown, number, (string | number)[]][] = [
      [{ name: 'x', channelIds: channelIds.slice(0, 1) }, 422, ['templateId']],
      [{ name: 'x', message: { text: 'x' } }, 422, ['channelIds']],
      [{ name: 'x', message: { text: '' }, channelIds: channelIds.slice(0, 1) }, 422, ['message', 'text']],
      [{ name: 'x', message: { text: 'x' }, channelIds: ['nope'] }, 422, ['channelIds', 0]],
      [{ name: 'x', message: { text: 'x' }, channelIds: channelIds.slice(0, 1), scheduledAt: 'tomorrow' }, 422, ['scheduledAt']],
      [{ name: 'x', message: { text: 'x' }, channelIds: channelIds.slice(0, 1), ratePerMinute: 1.5 }, 422, ['ratePerMinute']],
    ];
    for (const [body, status, path] of cases) {
      const r = await a.call('POST', '/campaigns', body);
      expectErrorShape(r, status);
      expect(r.body.error.issues?.[0]?.path).toEqual(path);
    }
    // checked by the RPC: unknown ids, missing variables
    expectErrorShape(
      await a.call('POST', '/campaigns', {
        name: 'x',
        message: { text: 'x' },
        channelIds: ['00000000-0000-4000-8000-000000000000'],
      }),
      422,
    );
    const vars = await a.call('POST', '/campaigns', {
      name: 'x',
      message: { text: 'Hi {{name}}' },
      channelIds: channelIds.slice(0, 1),
    });
    expectErrorShape(vars, 422);
    expect(vars.body.error.message).toMatch(/name/);
    expect(await api.fingerprint()).toEqual(before);
  });

  it('works through the typed supabase-js client of contracts/', async () => {
    const supabase = createClient(api.server.baseUrl, 'anon-key-unused-locally', {
      global: { headers: { Authorization: `Bearer ${a.token}` } },
      auth: { persistSession: false, autoRefreshToken: false },
    });
    const client: ApiClient = createApiClient(supabase);
    const tpl = await client.createTemplate({ name: 'Client', text: 'Hello {{x}}', parseMode: 'plain' });
    expect(await client.previewTemplate(tpl.id, { variables: { x: 1 } })).toEqual({ text: 'Hello 1', missing: [] });
    const created = await client.createCampaign({
      name: 'Via client',
      templateId: tpl.id,
      variables: { x: 'y' },
      channelIds: channelIds.slice(0, 4),
    });
    expect(created.state).toBe('draft');
    expect((await client.startCampaign(created.id)).state).toBe('running');
    expect((await client.getCampaign(created.id)).counts.total).toBe(4);
    const page = await client.listDeliveries(created.id, { state: 'pending', limit: 3 });
    expect(page.items).toHaveLength(3);
    expect(page.nextCursor).toBeTruthy();
    const rest = await client.listDeliveries(created.id, { state: 'pending', cursor: page.nextCursor! });
    expect(rest.items).toHaveLength(1);
    const err = await client.startCampaign(created.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err).toMatchObject({ status: 409, code: 'illegal_transition', details: { from: 'running', action: 'start' } });
    expect(await client.deleteTemplate(tpl.id)).toBeUndefined();
  });

  it('measures the p50 latency of POST /campaigns with 100 targets', async () => {
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const r = await a.call('POST', '/campaigns', { name: `bench ${i}`, message: { text: 'bench' }, channelIds });
      times.push(performance.now() - t0);
      expect(r.status).toBe(201);
      expect(r.body.counts.total).toBe(100);
    }
    times.sort((x, y) => x - y);
    const p50 = times[Math.floor(times.length / 2)]!;
    const p95 = times[Math.floor(times.length * 0.95)]!;
    console.log(`POST /campaigns with 100 targets: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (n=${times.length})`);
    expect(p50).toBeLessThan(2000); // a sanity bound only; the figure is what matters
  });
});
