// What the worker does with Telegram's account-level answers, through the real worker, pg-boss
// and Postgres: the simulator answers as Telegram, and the answers under test are injected below
// GramJS's real TelegramClient.invoke (./telegram-answers.ts).
import { createServer, type Server } from 'node:http';
import { Api } from 'telegram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import type { WorkerConfigInput } from '../src/config.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addChannels,
  campaign,
  createCampaign,
  createWorld,
  deliveryCounts,
  startCampaign,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
  type World,
} from './fixtures.ts';
import { answerFor, type Answering, answeringGateway } from './telegram-answers.ts';

const KEY = 'service-role-key-for-this-test';
const PHOTO = Buffer.alloc(1024, 7);
let storage: Server;
let storageUrl: string;

beforeAll(async () => {
  // The Storage API's object route, enough for one photo (media-send.test.ts tests the route itself).
  storage = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': PHOTO.length });
    res.end(PHOTO);
  });
  await new Promise<void>((r) => storage.listen(0, '127.0.0.1', () => r()));
  storageUrl = `http://127.0.0.1:${(storage.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => storage.close(() => r())));

/** A worker whose account talks to `sim`, with `answer` injected below invoke. */
async function startWorkerAnswering(
  w: World,
  sim: TelegramSimulator,
  answer: Answering,
  config: Partial<WorkerConfigInput> = {},
) {
  const senders: ReturnType<typeof answeringGateway>['sender'][] = [];
  const worker = await startTestWorker(testConfig(w, { supabaseUrl: storageUrl, serviceRoleKey: KEY, ...config }), {
    logger: testLogger(),
    createGateway: (id) => {
      const { gateway, sender } = answeringGateway(answer, sim, id);
      senders.push(sender);
      return gateway;
    },
  });
  const calls = (cls: abstract new (...a: never[]) => unknown) =>
    senders.reduce((n, s) => n + s.requests.filter((r) => r instanceof cls).length, 0);
  return { worker, calls };
}

const account = async (w: World) =>
  (await w.sql.query('select status, status_reason from public.telegram_accounts where id = $1', [w.accountId])).rows[0];

describe('account-level answers', () => {
  it('a FLOOD_WAIT on the first call at start-up is waited out; the session is not marked revoked', async () => {
    const w = await createWorld({ ratePerMinute: 6000 });
    const { ids } = await addChannels(w, 3);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const { worker } = await startWorkerAnswering(
      w,
      sim,
      answerFor(Api.updates.GetState, { code: 420, name: 'FLOOD_WAIT_1' }, 1),
    );
    const id = await createCampaign(w, { channelIds: ids });
    await waitForState(w, id, 'completed', 20_000);
    expect(await account(w)).toMatchObject({ status: 'active' });
    expect(worker.accounts()[0]!.status).toBe('running');
    expect(await deliveryCounts(w, id)).toEqual({ sent: 3 });
  });

  it('a frozen account (FROZEN_METHOD_INVALID) stops: campaigns paused with the reason, no retry loop, until the owner resumes', async () => {
    const w = await createWorld({ ratePerMinute: 6000 });
    const { ids } = await addChannels(w, 5);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    let lifted = false; // Telegram lifts the freeze (after an appeal)
    const frozen: Answering = (r) =>
      !lifted && r instanceof Api.messages.SendMessage ? { code: 420, name: 'FROZEN_METHOD_INVALID' } : undefined;
    const { worker, calls } = await startWorkerAnswering(w, sim, frozen);
    const id = await createCampaign(w, { channelIds: ids });
    const paused = await waitForState(w, id, 'paused', 15_000);
    expect(paused.pause_reason).toBe('account');
    const acct = await account(w);
    expect(acct.status).toBe('frozen');
    expect(acct.status_reason).toMatch(/^FROZEN_METHOD_INVALID/);
    await waitFor('account stopped', async () => worker.accounts()[0]!.status === 'account_stopped', 5_000);
    const sends = calls(Api.messages.SendMessage);
    // Across account refreshes (1 s in tests): still stopped, nothing sent again, still paused.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(worker.accounts()[0]!.status).toBe('account_stopped');
    expect(calls(Api.messages.SendMessage)).toBe(sends);
    expect(await campaign(w, id)).toMatchObject({ state: 'paused', pause_reason: 'account', sent_count: 0, failed_count: 0 });
    expect((await account(w)).status).toBe('frozen');
    const alerts = (await worker.health()).alerts.filter((a) => a.condition === 'account_stopped');
    expect(alerts).toEqual([{
      condition: 'account_stopped',
      subject: w.accountId,
      detail: expect.stringMatching(/^FROZEN_METHOD_INVALID/),
    }]);

    const test = await asUser(w.sql, w.userId, (t) => t.query('select public.test_campaign($1)', [id])).catch((e: unknown) => e);
    expect(test).toMatchObject({ code: 'PT409', message: expect.stringMatching(/the account is frozen/) });
    // The owner's resume sets the account active again; the worker notices and sends.
    lifted = true;
    await asUser(w.sql, w.userId, (t) => t.query('select public.resume_campaign($1)', [id]));
    expect((await account(w)).status).toBe('active');
    await waitForState(w, id, 'completed', 15_000);
    expect(await deliveryCounts(w, id)).toEqual({ sent: 5 });
  });

  it("a row read before the stop was committed is not the owner's resume: the account stays stopped", async () => {
    const w = await createWorld({ ratePerMinute: 6000 });
    const { ids } = await addChannels(w, 3);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const frozen: Answering = (r) =>
      r instanceof Api.messages.SendMessage ? { code: 420, name: 'FROZEN_METHOD_INVALID' } : undefined;
    // Commits once a second, the account's row read every 100 ms: reads between the stop and its
    // commit still say 'active'.
    const { worker, calls } = await startWorkerAnswering(w, sim, frozen, { flushMs: 1000, accountRefreshMs: 100 });
    const id = await createCampaign(w, { channelIds: ids });
    expect((await waitForState(w, id, 'paused', 15_000)).pause_reason).toBe('account');
    const sends = calls(Api.messages.SendMessage);
    await waitFor('reads after the commit', async () => (await account(w)).status === 'frozen', 5_000);
    await new Promise((r) => setTimeout(r, 500)); // five reads of the committed row
    expect(worker.accounts()[0]!.status).toBe('account_stopped');
    expect(calls(Api.messages.SendMessage)).toBe(sends);
  });

  it('an account found frozen at start-up is stopped the same way, and sends once the owner resumes', async () => {
    const w = await createWorld({ ratePerMinute: 6000 });
    const { ids } = await addChannels(w, 2);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const id = await createCampaign(w, { channelIds: ids });
    const frozenAtStart = answerFor(Api.updates.GetState, { code: 420, name: 'FROZEN_METHOD_INVALID' }, 1);
    const { worker } = await startWorkerAnswering(w, sim, frozenAtStart);
    expect((await waitForState(w, id, 'paused', 15_000)).pause_reason).toBe('account');
    expect((await account(w)).status).toBe('frozen');
    await waitFor('account stopped', async () => worker.accounts()[0]!.status === 'account_stopped', 5_000);
    await asUser(w.sql, w.userId, (t) => t.query('select public.resume_campaign($1)', [id]));
    await waitForState(w, id, 'completed', 15_000);
    expect(await deliveryCounts(w, id)).toEqual({ sent: 2 });
  });

  it('FLOOD_PREMIUM_WAIT on uploads delays the upload only: text campaigns of the account go on', async () => {
    const w = await createWorld({ ratePerMinute: 6000 });
    const text = await addChannels(w, 4, 'text');
    const media = await addChannels(w, 2, 'media');
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const throttled = answerFor(Api.upload.SaveFilePart, { code: 420, name: 'FLOOD_PREMIUM_WAIT_30' });
    const { worker, calls } = await startWorkerAnswering(w, sim, throttled);
    const photoId = await photoCampaign(w, media.ids);
    await waitFor('an upload throttled', async () => calls(Api.upload.SaveFilePart) > 0, 10_000);
    const textId = await createCampaign(w, { channelIds: text.ids });
    await waitForState(w, textId, 'completed', 15_000);
    expect(await deliveryCounts(w, textId)).toEqual({ sent: 4 });
    // The photo's deliveries wait for the upload, no attempt spent; the account never paused.
    expect(await campaign(w, photoId)).toMatchObject({ state: 'running', sent_count: 0, failed_count: 0 });
    const { rows } = await w.sql.query('select max(attempts)::int as n from public.deliveries where campaign_id = $1', [photoId]);
    expect(rows[0].n).toBe(0);
    expect(await account(w)).toMatchObject({ status: 'active' });
    expect(worker.accounts()[0]!.status).toBe('running');
    // One upload try per wait, not one per send.
    expect(calls(Api.upload.SaveFilePart)).toBe(1);
  });

  it('-503 Timeout ("may or may not have been executed") ends unconfirmed after its retries, never failed', async () => {
    const w = await createWorld({ ratePerMinute: 6000 });
    const { ids } = await addChannels(w, 1);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    await startWorkerAnswering(w, sim, answerFor(Api.messages.SendMessage, { code: -503, name: 'Timeout' }));
    const id = await createCampaign(w, { channelIds: ids });
    await waitFor('delivery settled', async () => (await deliveryCounts(w, id)).unconfirmed === 1, 20_000);
    expect(await campaign(w, id)).toMatchObject({ failed_count: 0 });
  });
});

async function photoCampaign(w: World, channelIds: string[]): Promise<string> {
  await w.sql.query(
    `insert into storage.objects (bucket_id, name, owner_id, metadata) values ('campaign-media', $1, $2, $3)`,
    [`${w.userId}/pic.jpg`, w.userId, { mimetype: 'image/jpeg', size: PHOTO.length }],
  );
  const id = await asUser(w.sql, w.userId, async (t) =>
    (await t.query(
      `select id from public.create_campaign(p_name => 'photo', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
      [channelIds, JSON.stringify({ text: 'x', parseMode: 'plain', media: { path: `${w.userId}/pic.jpg`, kind: 'photo' } })],
    )).rows[0].id);
  await startCampaign(w, id);
  return id;
}
