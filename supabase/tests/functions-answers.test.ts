// No request without an answer: a burst of mixed good and malformed requests from many parallel
// keep-alive clients (Node's fetch, as a client app's supabase-js uses) gets one HTTP answer per
// request, straight from the Deno router and through the stack's API gateway. A request that
// ends in "fetch failed" (a socket closed under a request) is a dropped request.
//
// ANSWER_REQUESTS (default 600) sets how many; `ANSWER_REQUESTS=10000 npm test -- functions-answers`
// is the long run.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../../scripts/stack/gateway.ts';
import { type ApiFixture, startApi, type User } from './functions-fixture.ts';

const TOTAL = Number(process.env.ANSWER_REQUESTS ?? 600);
const CLIENTS = 20;

let api: ApiFixture;
let gw: Gateway;
let a: User;
let campaignId: string;
beforeAll(async () => {
  api = await startApi();
  gw = await startGateway({
    port: 0,
    functionsOrigin: api.server.baseUrl,
    realtime: { dbUrl: api.db.url, jwtSecret: api.secret },
  });
  a = await api.newUser();
  await a.call('POST', '/accounts', { label: 'answers' });
  const channel = (await a.call('POST', '/channels', { peer: '@answers_target' })).body.id;
  const campaign = await a.call('POST', '/campaigns', { name: 'answers', message: { text: 'x' }, channelIds: [channel] });
  expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
  campaignId = campaign.body.id;
});
afterAll(async () => {
  await gw?.stop();
  await api?.stop();
});

interface Req {
  method: string;
  path: string;
  body?: string;
  headers: Record<string, string>;
}

const nested = (depth: number) => '{"name":'.repeat(depth) + '1' + '}'.repeat(depth);
const TWO_MB = JSON.stringify({ peer: 'x'.repeat(2 * 1024 * 1024) });

/** The i-th request of `run`'s mix: about a third answered 2xx, the rest 4xx of every kind. */
function request(run: string, i: number, token: string): Req {
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const kinds: Req[] = [
    { method: 'GET', path: '/channels?limit=5', headers: auth },
    { method: 'GET', path: `/campaigns/${campaignId}/deliveries`, headers: auth },
    { method: 'GET', path: `/campaigns/${campaignId}`, headers: auth },
    {
      method: 'POST',
      path: '/templates',
      body: JSON.stringify({ name: `${run}${i}`, text: 'x', parseMode: 'plain' }),
      headers: auth,
    },
    { method: 'POST', path: '/channels', body: nested(5000), headers: auth }, // deeply nested: 422
    { method: 'POST', path: '/channels', body: '{"peer":', headers: auth }, // not JSON: 400
    { method: 'POST', path: '/channels', body: TWO_MB, headers: auth }, // too large: 413
    { method: 'POST', path: '/channels', body: TWO_MB, headers: { 'content-type': 'application/json' } }, // no token: 401
    { method: 'DELETE', path: '/channels', body: '{}', headers: auth }, // wrong method: 405
    { method: 'GET', path: '/campaigns/not-a-uuid', headers: auth }, // 422
    { method: 'GET', path: '/nowhere', headers: auth }, // 404
    { method: 'PATCH', path: `/campaigns/${campaignId}`, body: JSON.stringify({ maxErrors: -1 }), headers: auth }, // 422
  ];
  return kinds[i % kinds.length]!;
}

/** Sends TOTAL requests from CLIENTS parallel loops; counts answers by status and the failures. */
async function burst(run: string, baseUrl: string) {
  const statuses: Record<number, number> = {};
  const failures: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = next++; i < TOTAL; i = next++) {
      const r = request(run, i, a.token);
      try {
        const res = await fetch(`${baseUrl}${r.path}`, { method: r.method, headers: r.headers, body: r.body });
        await res.arrayBuffer();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        failures.push(`${r.method} ${r.path.slice(0, 60)}: ${(err as Error).message} (${cause?.code ?? cause?.message})`);
      }
    }
  }));
  return { statuses, failures };
}

it(`answers ${TOTAL} mixed requests from ${CLIENTS} parallel clients, each one (Deno router)`, async () => {
  const { statuses, failures } = await burst('router', api.url);
  console.log(`[answers] router: ${JSON.stringify(statuses)}, ${failures.length} without an answer`);
  expect(failures).toEqual([]);
  expect(Object.values(statuses).reduce((x, y) => x + y, 0)).toBe(TOTAL);
  expect(statuses[500] ?? 0).toBe(0);
  for (const s of [200, 201, 400, 401, 404, 405, 413, 422]) expect(statuses[s], `status ${s}`).toBeGreaterThan(0);
}, 600_000);

it(`answers ${TOTAL} mixed requests from ${CLIENTS} parallel clients, each one (API gateway)`, async () => {
  const { statuses, failures } = await burst('gateway', `${gw.apiUrl}/functions/v1`);
  console.log(`[answers] gateway: ${JSON.stringify(statuses)}, ${failures.length} without an answer`);
  expect(failures).toEqual([]);
  expect(Object.values(statuses).reduce((x, y) => x + y, 0)).toBe(TOTAL);
  expect(statuses[500] ?? 0).toBe(0);
  expect(statuses[502] ?? 0).toBe(0);
}, 600_000);
