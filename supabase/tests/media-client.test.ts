// Media campaigns end to end as a client app does them, with the real supabase-js: upload an
// image with `storage.from('campaign-media').upload()` to the local Storage stand-in
// (scripts/storage/, authorized by the bucket's RLS policies), create and start a 100-target
// photo campaign through the functions, and let the real worker (simulated Telegram) fetch the
// file through the Storage API with the service role key and send it. Exactly one upload per
// account, one photo post per target with its delivery's random_id, counters equal to the rows.
// A second user can neither read the object nor use its path in a campaign.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRequestError, createApiClient } from '../../contracts/client.ts';
import { sleep } from '../../contracts/time.ts';
import { type FunctionsServer, startFunctionsServer } from '../../scripts/functions-server.ts';
import { asFunctionsRole } from '../../scripts/lib/database.ts';
import { type Gateway, startGateway } from '../../scripts/stack/gateway.ts';
import { mintApiKeys, mintUserToken } from '../../scripts/stack/keys.ts';
import { createTestDatabase, createUser, type TestDatabase } from '../../scripts/test/db.ts';
import { TelegramSimulator } from '../../worker/src/simulator/telegram-simulator.ts';
import { type RunningWorker, startWorker } from '../../worker/src/worker.ts';
import { createLogger } from '../../worker/src/logger.ts';

// A 1×1 PNG: what a client app would read from a file input.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

describe('media campaign with supabase-js (local Storage stand-in, real worker)', () => {
  let db: TestDatabase;
  let c: pg.Client;
  let fx: FunctionsServer;
  let gw: Gateway;
  let worker: RunningWorker;
  let secret: string;
  let anonKey: string;
  let dir: string;
  const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 1000 });

  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'tg_media' });
    c = await db.connect();
    secret = randomBytes(32).toString('hex');
    dir = await mkdtemp(join(tmpdir(), 'tg-storage-'));
    const keys = await mintApiKeys(secret);
    anonKey = keys.anonKey;
    fx = await startFunctionsServer({
      port: 0,
      env: { SUPABASE_DB_URL: asFunctionsRole(db.url), SUPABASE_JWT_SECRET: secret, SUPABASE_URL: '' },
    });
    gw = await startGateway({
      port: 0,
      functionsOrigin: fx.baseUrl,
      realtime: { dbUrl: db.url, jwtSecret: secret },
      storage: { dir },
    });
    worker = await startWorker({
      databaseUrl: db.url,
      mode: 'simulator',
      accounts: null,
      httpPort: null,
      logLevel: 'silent',
      supabaseUrl: gw.apiUrl,
      serviceRoleKey: keys.serviceRoleKey,
    }, { logger: createLogger('silent'), simulator: sim });
  });
  afterAll(async () => {
    await worker?.stop();
    await gw?.stop();
    await fx?.stop();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  async function clientApp(): Promise<{ id: string; supabase: SupabaseClient }> {
    const id = await createUser(db);
    const token = await mintUserToken(secret, { id, email: `${id.slice(0, 8)}@example.test` });
    return { id, supabase: createClient(gw.apiUrl, anonKey, { accessToken: async () => token }) };
  }

  it('uploads once per account and posts one photo per target', async () => {
    const { id: userId, supabase } = await clientApp();
    const api = createApiClient(supabase);
    const path = `${userId}/launch.png`;
    const up = await supabase.storage.from('campaign-media').upload(path, new Blob([PNG], { type: 'image/png' }));
    expect(up.error).toBeNull();
    expect(up.data).toMatchObject({ path, fullPath: `campaign-media/${path}` });
    const info = await supabase.storage.from('campaign-media').info(path);
    expect(info.data).toMatchObject({ size: PNG.length, contentType: 'image/png' });
    const down = await supabase.storage.from('campaign-media').download(path);
    expect(Buffer.from(await down.data!.arrayBuffer())).toEqual(PNG);

    await api.createAccount({ label: 'main', ratePerMinute: 60_000 });
    const peers = Array.from({ length: 100 }, (_, i) => `@photo_${String(i).padStart(3, '0')}`);
    await api.importChannels({ peers });
    const channelIds = (await c.query('select id from public.channels where owner_id = $1', [userId])).rows.map((r) => r.id);
    const campaign = await api.createCampaign({
      name: 'Photo',
      message: { text: 'New <b>photo</b>', parseMode: 'html', media: { path, kind: 'photo' } },
      channelIds,
    });
    expect(campaign.message.media).toEqual({ path, kind: 'photo', mimeType: 'image/png', size: PNG.length });
    await api.startCampaign(campaign.id);

    let done = await api.getCampaign(campaign.id);
    for (let i = 0; i < 200 && done.state !== 'completed'; i++) {
      await sleep(100);
      done = await api.getCampaign(campaign.id);
    }
    expect(done).toMatchObject({ state: 'completed', counts: { total: 100, sent: 100, failed: 0, pending: 0 } });
    expect(sim.media.uploads.filter((u) => u.bytes === PNG.length)).toHaveLength(1);
    const posts = (await sim.store.messages()).filter((m) => m.media === 'photo' && m.peer.startsWith('@photo_'));
    expect(posts.map((m) => m.peer).sort()).toEqual(peers);
    const rows = (await c.query(
      `select random_id::text, telegram_message_id::int as mid, attempts from public.deliveries
      where campaign_id = $1 and state = 'sent'`,
      [campaign.id],
    )).rows;
    expect(rows).toHaveLength(100);
    const byRandomId = new Map(posts.map((m) => [m.randomId, m.messageId]));
    for (const r of rows) expect([byRandomId.get(r.random_id), r.attempts]).toEqual([r.mid, 1]);

    // Another user: the object is invisible to them and refused in their campaign.
    const other = await clientApp();
    const theirs = await other.supabase.storage.from('campaign-media').download(path);
    expect(theirs.error).not.toBeNull();
    const intoMine = await other.supabase.storage.from('campaign-media').upload(
      `${userId}/evil.png`,
      new Blob([PNG], { type: 'image/png' }),
    );
    expect(intoMine.error?.message).toMatch(/row-level security/);
    const otherApi = createApiClient(other.supabase);
    await otherApi.createAccount({ label: 'o' });
    const ch = await otherApi.createChannel({ peer: '@not_yours' });
    const refused = await otherApi.createCampaign({
      name: 'steal',
      message: { text: 'x', media: { path, kind: 'photo' } },
      channelIds: [ch.id],
    })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiRequestError);
    expect((refused as ApiRequestError).issues?.[0]?.path).toEqual(['message', 'media', 'path']);
  });

  it("sends a draft's test to Saved Messages and shows it on the campaign", async () => {
    const { id: userId, supabase } = await clientApp();
    const api = createApiClient(supabase);
    const path = `${userId}/test.png`;
    expect((await supabase.storage.from('campaign-media').upload(path, new Blob([PNG], { type: 'image/png' }))).error).toBeNull();
    await api.createAccount({ label: 'main' });
    const ch = await api.createChannel({ peer: '@test_target' });
    const campaign = await api.createCampaign({
      name: 'T',
      message: { text: 'Preview', media: { path, kind: 'photo' } },
      channelIds: [ch.id],
    });
    const test = await api.testCampaign(campaign.id, {});
    expect(test).toMatchObject({ state: 'sent', peer: 'me' });
    const saved = (await sim.store.messages()).filter((m) => m.peer === 'me' && m.messageId === Number(test.telegramMessageId));
    expect(saved).toMatchObject([{ media: 'photo' }]);
    expect(await api.getCampaign(campaign.id)).toMatchObject({
      state: 'draft',
      counts: { sent: 0, total: 1 },
      lastTest: { id: test.id, state: 'sent' },
    });
    expect((await supabase.storage.from('campaign-media').remove([path])).data).toHaveLength(1);
  });
});
