// Realtime progress end to end with the real supabase-js client in Node: one
// createClient(apiUrl, anonKey) calls the functions (functions.invoke) and subscribes through
// watchCampaign() to the local Realtime stand-in (scripts/realtime/), which authorizes joins with
// the policy on realtime.messages and delivers what realtime.send() commits. Sends are made the
// way the worker records them: an UPDATE of the delivery row, whose triggers move the counters.
import { randomBytes } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient } from '../../contracts/client.ts';
import { type CampaignProgressEvent, campaignTopic, watchCampaign } from '../../contracts/realtime.ts';
import { sleep } from '../../contracts/time.ts';
import { type FunctionsServer, startFunctionsServer } from '../../scripts/functions-server.ts';
import { type Gateway, startGateway } from '../../scripts/stack/gateway.ts';
import { mintApiKeys, mintUserToken } from '../../scripts/stack/keys.ts';
import { createTestDatabase, createUser, type TestDatabase } from '../../scripts/test/db.ts';

interface Received {
  event: CampaignProgressEvent;
  at: number;
}
interface Watcher {
  events: Received[];
  statuses: Array<{ status: string; err?: string }>;
  stop(): Promise<void>;
}

describe('Realtime progress with supabase-js (local Realtime stand-in)', () => {
  let db: TestDatabase;
  let c: pg.Client;
  let fx: FunctionsServer;
  let gw: Gateway;
  let secret: string;
  let anonKey: string;
  const clients: SupabaseClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'tg_rtc' });
    c = await db.connect();
    secret = randomBytes(32).toString('hex');
    anonKey = (await mintApiKeys(secret)).anonKey;
    fx = await startFunctionsServer({ port: 0, env: { SUPABASE_DB_URL: db.url, SUPABASE_JWT_SECRET: secret, SUPABASE_URL: '' } });
    gw = await startGateway({ port: 0, functionsOrigin: fx.baseUrl, realtime: { dbUrl: db.url, jwtSecret: secret } });
  });
  afterAll(async () => {
    for (const cl of clients) await cl.removeAllChannels().catch(() => {});
    await gw?.stop();
    await fx?.stop();
    await db?.drop();
  });

  /** A client app's supabase-js client, its token from a callback (refreshed on every heartbeat). */
  function clientWith(token: () => string): SupabaseClient {
    const cl = createClient(gw.apiUrl, anonKey, { accessToken: async () => token(), realtime: { heartbeatIntervalMs: 1000 } });
    clients.push(cl);
    return cl;
  }
  async function newUser(ttlSeconds?: number) {
    const id = await createUser(db);
    return { id, token: await mintUserToken(secret, { id, email: `${id.slice(0, 8)}@example.test` }, ttlSeconds) };
  }
  function watch(cl: SupabaseClient, campaignId: string): Watcher {
    const w: Watcher = { events: [], statuses: [], stop: async () => {} };
    const h = watchCampaign(cl, campaignId, (event) => w.events.push({ event, at: Date.now() }), {
      onStatus: (status, err) => w.statuses.push({ status, err: err?.message }),
    });
    w.stop = () => h.unsubscribe();
    return w;
  }
  const until = async (what: string, ok: () => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };

  /** Through the functions on the same client: an account, `targets` channels, a started campaign. */
  async function startedCampaign(cl: SupabaseClient, targets: number): Promise<{ id: string; deliveries: string[] }> {
    const api = createApiClient(cl);
    await api.createAccount({ label: `rt-${randomBytes(3).toString('hex')}` });
    const peers = Array.from({ length: targets }, (_, i) => `@rt${randomBytes(4).toString('hex')}n${i}`);
    await api.importChannels({ peers });
    const channelIds = (await c.query('select id from public.channels where peer = any($1)', [peers])).rows.map((r) =>
      r.id as string
    );
    const campaign = await api.createCampaign({ name: 'rt', message: { text: 'hi' }, channelIds });
    await api.startCampaign(campaign.id);
    const { rows } = await c.query('select id from public.deliveries where campaign_id = $1 order by id', [campaign.id]);
    return { id: campaign.id, deliveries: rows.map((r) => r.id as string) };
  }
  /** What the worker's recording does to a delivery (its triggers move the campaign's counters). */
  const markSentSql = (id: string) =>
    `update public.deliveries set state = 'sent', attempts = attempts + 1,
    telegram_message_id = 1 + (random() * 1e9)::bigint, sent_at = now() where id = '${id}'::uuid and state = 'pending'`;
  const markSent = (ids: string[]) => c.query(ids.map(markSentSql).join(';\n'));

  it("delivers the owner's progress over the socket, ending with the final counts; a late subscriber gets the state at once", async () => {
    const owner = await newUser();
    const cl = clientWith(() => owner.token);
    const f = await startedCampaign(cl, 6);
    const w = watch(cl, f.id);
    await until('SUBSCRIBED', () => w.statuses.some((s) => s.status === 'SUBSCRIBED'));
    // Replay: the latest stored event (the start) arrives without any new change.
    await until('the replayed current state', () => w.events.length > 0);
    expect(w.events[0]!.event).toMatchObject({ campaignId: f.id, state: 'running', total: 6, pending: 6, sent: 0 });
    // 250 ms apart (the start's event included): each send is an event of its own.
    for (const id of f.deliveries) {
      await sleep(250);
      await markSent([id]);
    }
    await until('completion', () => w.events.some((e) => e.event.state === 'completed'));
    expect(w.events.map((e) => e.event.sent)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(w.events.at(-1)!.event).toMatchObject({ state: 'completed', total: 6, pending: 0, sent: 6, failed: 0 });

    const late = watch(clientWith(() => owner.token), f.id);
    await until("the late subscriber's first event", () => late.events.length > 0, 5000);
    expect(late.events.map((e) => e.event)).toEqual([w.events.at(-1)!.event]);
    await Promise.all([w.stop(), late.stop()]);
  });

  it("refuses another user's join of the topic, and that user receives nothing", async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const f = await startedCampaign(clientWith(() => owner.token), 3);
    const w = watch(clientWith(() => stranger.token), f.id);
    await until('a refusal', () => w.statuses.length > 0);
    expect(w.statuses[0]).toEqual({
      status: 'CHANNEL_ERROR',
      err: expect.stringContaining(
        `Unauthorized: You do not have permissions to read from this Channel topic: ${campaignTopic(f.id)}`,
      ),
    });
    await markSent(f.deliveries);
    await sleep(500);
    expect(w.events).toEqual([]);
    await w.stop();
  });

  it('refuses an expired token, and closes a channel whose token expires without a refresh', async () => {
    const owner = await newUser();
    const f = await startedCampaign(clientWith(() => owner.token), 2);
    const expired = await mintUserToken(secret, { id: owner.id, email: 'x@example.test' }, -60);
    const w = watch(clientWith(() => expired), f.id);
    await until('a refusal', () => w.statuses.length > 0);
    expect(w.statuses[0]).toEqual({ status: 'CHANNEL_ERROR', err: expect.stringMatching(/Token has expired \d+ seconds ago/) });
    expect(w.events).toEqual([]);

    // A token valid for 2 s, never refreshed (the callback keeps returning it): closed at expiry.
    const short = await mintUserToken(secret, { id: owner.id, email: 'x@example.test' }, 2);
    const s = watch(clientWith(() => short), f.id);
    await until('SUBSCRIBED', () => s.statuses.some((x) => x.status === 'SUBSCRIBED'));
    await until('the close at expiry', () => s.statuses.some((x) => x.status === 'CLOSED'), 5000);
    await Promise.all([w.stop(), s.stop()]);
  });

  it("keeps a channel across access-token refreshes, and closes it when the new token is another user's", async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const f = await startedCampaign(clientWith(() => owner.token), 3);
    // Long enough for a busy machine to join and send one heartbeat (1 s) before it expires.
    let token = await newUserToken(owner.id, 5);
    const firstExpiry = Date.now() + 5000;
    const cl = clientWith(() => token);
    const w = watch(cl, f.id);
    await until('SUBSCRIBED', () => w.statuses.some((x) => x.status === 'SUBSCRIBED'));
    token = await newUserToken(owner.id, 60); // the client's next heartbeat sends it (access_token)
    await until('the refresh sent', () => cl.realtime.accessTokenValue === token);
    await sleep(firstExpiry - Date.now() + 1000); // past the first token's expiry
    await markSent([f.deliveries[0]!]);
    await until(
      `an event after the refresh (statuses ${JSON.stringify(w.statuses)})`,
      () => w.events.some((e) => e.event.sent === 1),
    );
    expect(w.statuses.map((x) => x.status)).toEqual(['SUBSCRIBED']);
    token = stranger.token;
    await until('the close', () => w.statuses.some((x) => x.status === 'CLOSED'), 5000);
    await w.stop();
  });
  const newUserToken = (id: string, ttl: number) => mintUserToken(secret, { id, email: `${id.slice(0, 8)}@example.test` }, ttl);

  it('coalesces a campaign at ~1,000 updates/s to at most 5 events/s, never dropping the final one', async () => {
    const owner = await newUser();
    const cl = clientWith(() => owner.token);
    const f = await startedCampaign(cl, 1000);
    const w = watch(cl, f.id);
    await until('the replayed start', () => w.events.length > 0);
    const t0 = Date.now();
    // One UPDATE per send (each moves the campaign row once), 10 per round trip, paced to 1/ms.
    for (let i = 0; i < f.deliveries.length; i += 10) {
      await c.query(f.deliveries.slice(i, i + 10).map((id) => markSentSql(id)).join(';\n'));
      const ahead = t0 + i + 10 - Date.now();
      if (ahead > 0) await sleep(ahead);
    }
    const seconds = (Date.now() - t0) / 1000;
    await until('completion', () => w.events.some((e) => e.event.state === 'completed'));
    const live = w.events.slice(1).map((e) => e.event); // after the replayed start
    console.log(`[realtime-client] ${(1000 / seconds).toFixed(0)} updates/s for ${seconds.toFixed(2)} s → ${live.length} events`);
    // Updates far faster than the 5 events/s it may emit, even on a busy machine, so the bounds
    // below hold only if it coalesces.
    expect(1000 / seconds).toBeGreaterThan(50);
    const times = live.filter((e) => e.state === 'running').map((e) => Date.parse(e.at));
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(5);
    expect(live.length).toBeLessThanOrEqual(Math.ceil(seconds * 5) + 1);
    expect(live.at(-1)).toMatchObject({ state: 'completed', sent: 1000, pending: 0, total: 1000 });
    await w.stop();
  }, 60_000);
});
