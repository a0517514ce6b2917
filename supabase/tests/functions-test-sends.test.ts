// Test sends and message length over HTTP (the real Deno functions, a pool of 3 connections):
// many test sends at once are each answered (sent, or 429 past the caps on pending tests) while
// another user's requests keep being answered promptly, and no connection is left idle in a
// transaction; a request that finds the pool busy for 5 s is answered 503. The worker is played
// by a loop that records each queued test as sent 2 s after it was asked for (as
// worker_record_tests does), so the requests really wait. Emoji count as Telegram counts them, in
// the API and in the database alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asServiceRole, withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
let b: User;
let accountId: string;
let campaignId: string;
beforeAll(async () => {
  api = await startApi();
  [a, b] = [await api.newUser(), await api.newUser()];
  accountId = (await a.call('POST', '/accounts', { label: 'Sender' })).body.id;
  const channelId = (await a.call('POST', '/channels', { peer: '@test_sends_target' })).body.id;
  campaignId = (await a.call('POST', '/campaigns', { name: 'T', message: { text: 'Try' }, channelIds: [channelId] })).body.id;
  await b.call('POST', '/channels', { peer: '@tenant_b_channel' });
});
afterAll(async () => {
  await api?.stop();
});

interface Timed {
  status: number;
  ms: number;
  body: any;
}

/** A request that gives up after 30 s (status 0), so a hung API fails the test instead of stalling it. */
async function timed(user: User, method: string, path: string, body?: unknown): Promise<Timed> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${user.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: await res.json(), ms: performance.now() - t0 };
  } catch {
    return { status: 0, body: null, ms: performance.now() - t0 };
  }
}

/** Records every test send of the account queued 2 s ago or more as sent, until stopped. */
function playWorker(): { stop(): Promise<number> } {
  let running = true;
  let settled = 0;
  const loop = withClient(api.db.url, async (c) => {
    while (running) {
      const { rows } = await c.query(
        `select t.id, j.id as job_id from public.campaign_test_sends t
        join pgboss.job j on j.data ->> 'testSendId' = t.id::text where t.state = 'pending' and t.account_id = $1
          and t.created_at < now() - interval '2 seconds'`,
        [accountId],
      );
      for (const [i, r] of rows.entries()) {
        await c.query(`update pgboss.job set state = 'active' where id = $1`, [r.job_id]);
        await asServiceRole(c, (tx) =>
          tx.query('select public.worker_record_tests($1)', [
            JSON.stringify([{ deliveryId: r.id, jobId: r.job_id, accountId, outcome: 'sent', messageId: 1000 + settled + i }]),
          ]));
      }
      settled += rows.length;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  return {
    stop: async () => {
      running = false;
      await loop;
      return settled;
    },
  };
}

describe('POST /campaigns/{id}/test under load', () => {
  it("answers 20 concurrent test sends while another user's requests answer in under 1 s", async () => {
    const worker = playWorker();
    let done = false;
    const tests = Promise.all(Array.from({ length: 20 }, () => timed(a, 'POST', `/campaigns/${campaignId}/test`, {})))
      .finally(() => (done = true));
    const others: Timed[] = [];
    while (!done) {
      others.push(await timed(b, 'GET', '/channels'));
      await new Promise((r) => setTimeout(r, 50));
    }
    const answers = await tests;
    await worker.stop();

    const figures = {
      testSends: answers.map((t) => `${t.status} in ${Math.round(t.ms)} ms`),
      otherTenant: { requests: others.length, maxMs: Math.round(Math.max(...others.map((o) => o.ms))) },
    };
    console.log('[test-sends] figures', JSON.stringify(figures));
    for (const t of answers) {
      expect([200, 429], JSON.stringify(t.body)).toContain(t.status);
      if (t.status === 200) expect(t.body).toMatchObject({ campaignId, state: 'sent', peer: 'me' });
      else {expect(t.body.error).toMatchObject({
          code: 'quota_exceeded',
          details: { quota: expect.stringMatching(/^pending_tests/) },
        });}
    }
    expect(answers.filter((t) => t.status === 200).length).toBeGreaterThanOrEqual(3);
    expect(others.length).toBeGreaterThanOrEqual(5);
    for (const o of others) {
      expect(o.status).toBe(200);
      expect(o.body.items).toHaveLength(1);
      expect(o.ms).toBeLessThan(1000);
    }
    const idle = await withClient(api.db.adminUrl, async (c) =>
      (await c.query(
        `select count(*)::int n from pg_stat_activity
        where datname = current_database() and application_name = 'edge-functions' and state = 'idle in transaction'`,
      )).rows[0].n);
    expect(idle).toBe(0);
  });
});

describe("the instance's pool", () => {
  it('answers 503 to a request that gets no connection within 5 s, instead of hanging', async () => {
    const channelId = (await a.call('GET', '/channels')).body.items[0].id;
    const id = (await a.call('POST', '/campaigns', { name: 'L', message: { text: 'x' }, channelIds: [channelId] })).body.id;
    const locker = await api.db.connect();
    await locker.query('begin');
    await locker.query('select 1 from public.campaigns where id = $1 for update', [id]);
    // Three requests wait for the campaign's row, holding the pool's three connections.
    const starts = Promise.all([1, 2, 3].map(() => timed(a, 'POST', `/campaigns/${id}/start`)));
    await withClient(api.db.adminUrl, async (c) => {
      for (let waiting = 0; waiting < 3; await new Promise((r) => setTimeout(r, 50))) {
        waiting = (await c.query(
          `select count(*)::int n from pg_stat_activity
          where datname = current_database() and application_name = 'edge-functions' and wait_event_type = 'Lock'`,
        )).rows[0].n;
      }
    });
    const starved = await timed(b, 'GET', '/channels');
    await locker.query('rollback');
    expect(starved.status).toBe(503);
    expect(starved.body.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/busy/) });
    expect((await starts).map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect((await timed(b, 'GET', '/channels')).status).toBe(200);
  });
});

describe('message length', () => {
  const emoji = '\u{1F600}'; // outside the Basic Multilingual Plane: 2 UTF-16 code units

  it('the API and the database both count UTF-16 code units', async () => {
    const channelId = (await b.call('GET', '/channels')).body.items[0].id;
    await b.call('POST', '/accounts', { label: 'B' });
    const direct = await b.call('POST', '/campaigns', {
      name: 'e',
      message: { text: emoji.repeat(2049) },
      channelIds: [channelId],
    });
    expect(direct.status).toBe(422);
    expect(direct.body.error.issues[0].path).toEqual(['message', 'text']);
    const templateId = (await b.call('POST', '/templates', { name: 'e', text: 'Hi {{v}}', parseMode: 'plain' })).body.id;
    const make = (n: number) =>
      b.call('POST', '/campaigns', { name: 'e', templateId, variables: { v: emoji.repeat(n) }, channelIds: [channelId] });
    const tooLong = await make(2047); // 3 + 4094 units
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.error.issues[0].path).toEqual(['variables']);
    const fits = await make(2046);
    expect(fits.status).toBe(201);
    expect(fits.body.message.text.length).toBe(4095);
  });
});
