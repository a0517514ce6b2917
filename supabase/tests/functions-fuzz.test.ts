// Fuzz: hundreds of generated malformed requests (wrong types, missing and unknown fields, huge
// strings, NUL bytes, bad UUIDs, invalid JSON, non-object JSON, wrong methods, 2 MB bodies, junk
// query strings) must all get a 4xx with the error body, and the database must hold exactly what
// it held before. A seeded generator keeps failures reproducible (FUZZ_SEED to vary).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FUNCTION_NAMES, routes, type RouteSpec } from '../../contracts/api/routes.ts';
import { type ApiFixture, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
const ids: Record<string, string> = {};
beforeAll(async () => {
  api = await startApi();
  a = await api.newUser();
  // Real resources, so id routes reach validation against existing rows too.
  ids.channels = (await a.call('POST', '/channels', { peer: '@fuzz_target' })).body.id;
  ids.accounts = (await a.call('POST', '/accounts', { label: 'fuzz' })).body.id;
  ids.batches = (await a.call('POST', '/batches', { name: 'fuzz', channelIds: [ids.channels] })).body.id;
  ids.templates = (await a.call('POST', '/templates', { name: 'fuzz', text: 'x', parseMode: 'plain' })).body.id;
  ids.campaigns =
    (await a.call('POST', '/campaigns', { name: 'fuzz', message: { text: 'x' }, channelIds: [ids.channels] })).body.id;
});
afterAll(async () => {
  await api?.stop();
});

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID: Record<string, Record<string, unknown>> = {
  createChannel: { peer: '@fuzz_new', title: 't', tags: ['a'] },
  importChannels: { peers: ['@fuzz_a', '@fuzz_b'] },
  updateChannel: { title: 'x' },
  createBatch: { name: 'fuzz2' },
  updateBatch: { name: 'fuzz3' },
  setBatchChannels: { channelIds: [] },
  createTemplate: { name: 'n', text: 't', parseMode: 'plain' },
  updateTemplate: { text: 'u' },
  previewTemplate: { variables: { a: 'b' } },
  createCampaign: { name: 'c', message: { text: 'x' }, channelIds: ['00000000-0000-4000-8000-000000000000'] },
  updateCampaign: { name: 'fuzz renamed', maxErrors: 3 },
  createAccount: { label: 'l', ratePerMinute: 5 },
  updateAccount: { label: 'l2' },
  startLogin: { phone: '+15551234567' },
  submitLoginCode: { code: '12345' },
  submitLoginPassword: { password: 'pw' },
  setAccountProxy: { type: 'socks5', host: '203.0.114.7', port: 1080, username: 'u', password: 'p' },
  testCampaign: { channelId: '00000000-0000-4000-8000-000000000000' },
  editCampaignMessage: { text: 'fuzz v2', parseMode: 'plain' },
  pinCampaignPosts: { silent: true, unpinAfter: 'PT1H' },
  createWebhook: { url: 'https://8.8.8.8/fuzz', events: ['campaign.completed'] },
  updateWebhook: { description: 'x' },
};

const BAD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e308,
  true,
  [],
  {},
  [1, 2],
  { nested: { deep: [null] } },
  '',
  ' ',
  'x'.repeat(5000),
  'x'.repeat(200_000),
  'a\u0000b',
  'not-a-uuid',
  '00000000-0000-0000-0000-00000000000g',
  '\u{1F600}'.repeat(3000),
  "'; drop table channels; --",
  '<script>alert(1)</script>',
  Array(20_000).fill('00000000-0000-4000-8000-000000000000'),
];
const BAD_IDS = [
  '1',
  'null',
  'zzz',
  '00000000-0000-4000-8000-00000000000',
  '00000000-0000-4000-8000-0000000000000',
  "1'or'1'='1",
  '%00',
  '%2e%2e',
  'x'.repeat(300),
  '{id}',
];
const BAD_QUERIES = [
  'limit=-1',
  'limit=abc',
  'limit=1e9',
  'limit=0',
  'cursor=%00',
  'cursor=e30',
  'limit=',
  'limit=2.5',
  `cursor=${'A'.repeat(500)}`,
  'cursor=WyIxIiwiYiJd',
  'state=bogus',
];
const NOT_JSON = ['{', '}', '{"a":', 'undefined', "{'a':1}", '[1,]', '\u0000', 'NaN', '{"a":1}}'];
const NOT_OBJECTS = ['[]', '"x"', '1', 'null', 'true', '[{}]'];
const TWO_MB = JSON.stringify({ peer: 'x'.repeat(2 * 1024 * 1024) });

interface Req {
  method: string;
  path: string;
  body?: string;
  auth: boolean;
}

function generate(count: number, seed: number): Req[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const specs = Object.entries(routes) as [string, RouteSpec][];
  const pathOf = (spec: RouteSpec, id?: string) =>
    `/${spec.fn}${
      spec.path === '/' ? '' : spec.path.replace('{id}', id ?? (rand() < 0.5 ? ids[spec.fn]! : crypto.randomUUID()))
    }`;
  const out: Req[] = [];
  while (out.length < count) {
    const [op, spec] = pick(specs);
    const kind = rand();
    if (kind < 0.05) {
      if (spec.method === 'GET') continue; // fetch cannot send a GET body
      out.push({ method: spec.method, path: pathOf(spec), body: TWO_MB, auth: rand() < 0.8 });
    } else if (kind < 0.12) {
      const allowed = specs.filter(([, s]) => s.fn === spec.fn && s.path === spec.path).map(([, s]) => s.method);
      const wrong = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => !allowed.includes(m as RouteSpec['method']));
      const method = pick(wrong);
      out.push({ method, path: pathOf(spec), body: method === 'GET' ? undefined : '{}', auth: true });
    } else if (kind < 0.22 && spec.params) {
      const path = pathOf(spec, pick(BAD_IDS));
      // fetch resolves '%2e%2e' as '..': /batches/%2e%2e/channels is GET /channels, a valid call
      const landed = new URL(`http://x${path}`).pathname.split('/')[1]!;
      if (landed !== spec.fn && (FUNCTION_NAMES as readonly string[]).includes(landed)) continue;
      out.push({ method: spec.method, path, body: spec.body ? JSON.stringify(VALID[op]) : undefined, auth: true });
    } else if (kind < 0.3 && spec.query) {
      const q = pick(BAD_QUERIES);
      // unknown parameters are ignored, so only those this route reads; cursors are checked by the server
      if (!q.startsWith('cursor=') && spec.query.safeParse(Object.fromEntries(new URLSearchParams(q))).success) continue;
      out.push({ method: 'GET', path: `${pathOf(spec)}?${q}`, auth: true });
    } else if (kind < 0.33) {
      out.push({ method: spec.method, path: pathOf(spec), auth: false }); // no token at all
    } else if (spec.body) {
      const how = rand();
      let body: string;
      if (how < 0.12) body = pick(NOT_JSON);
      else if (how < 0.22) body = pick(NOT_OBJECTS);
      else {
        const valid = structuredClone(VALID[op]!);
        const fields = Object.keys(valid);
        if (how < 0.32) delete valid[pick(fields)];
        else if (how < 0.4) valid[pick(['ownerId', 'owner_id', 'id', 'state', 'session', '__proto__x'])] = 'x';
        else valid[pick(fields)] = pick(BAD_VALUES);
        // Only malformed requests: anything the contract accepts is not fuzz input.
        if (spec.body.safeParse(valid).success) continue;
        body = JSON.stringify(valid);
      }
      out.push({ method: spec.method, path: pathOf(spec), body, auth: true });
    }
  }
  return out;
}

it('answers 500+ malformed requests with 4xx only and changes nothing', async () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20261128);
  const requests = generate(600, seed);
  const before = await api.fingerprint();
  const results: { req: Req; status: number; body: any }[] = [];
  const queue = [...requests];
  // A few in parallel: fast, and close to how a client hammers a server.
  await Promise.all(Array.from({ length: 6 }, async () => {
    for (let req = queue.shift(); req; req = queue.shift()) {
      const r = await api.request(req.method, req.path, {
        body: req.body,
        headers: req.auth ? { authorization: `Bearer ${a.token}` } : {},
      });
      results.push({ req, status: r.status, body: r.body });
    }
  }));
  const bad = results.filter((r) =>
    r.status < 400 || r.status >= 500 || typeof r.body?.error?.code !== 'string' || typeof r.body?.error?.message !== 'string'
  );
  const summary = (r: (typeof results)[number]) =>
    `${r.status} ${r.req.method} ${r.req.path.slice(0, 120)} ${String(r.req.body).slice(0, 120)} -> ${
      JSON.stringify(r.body).slice(0, 200)
    }`;
  expect(bad.map(summary), `seed ${seed}`).toEqual([]);
  const byStatus: Record<number, number> = {};
  for (const r of results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  console.log(`fuzz seed ${seed}: ${results.length} requests, statuses ${JSON.stringify(byStatus)}`);
  expect(results.length).toBeGreaterThanOrEqual(500);
  for (const status of [400, 401, 404, 405, 413, 422]) expect(byStatus[status], `status ${status} exercised`).toBeGreaterThan(0);
  expect(await api.fingerprint()).toEqual(before);
});
