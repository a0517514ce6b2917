// Reach sampling through the whole worker (TELEGRAM_MODE gramjs, the account's session) on the
// stand-in over MTProto: a sent campaign queues its four rounds, an owner's refresh and a due round
// read views with messages.getMessagesViews (increment false), the samples show them growing, a
// reach.sampled event is written for each round, and a FLOOD_WAIT on reads holds reads, not sends.
import { describe, expect, it } from 'vitest';
import type { TelegramClient } from 'telegram';
import { asUser, createUser } from '../../scripts/test/db.ts';
import { createChannel, signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { TelegramModel } from '../../scripts/telegram/model/model.ts';
import {
  createCampaign,
  createWorld,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
  type World,
} from './fixtures.ts';

const model = new TelegramModel();
const { standIn, track } = useStandIn({ model });

function startWorkerOn(w: World, owner: TelegramClient) {
  const s = standIn();
  return startTestWorker(
    testConfig(w, {
      mode: 'gramjs',
      accounts: [{ accountId: w.accountId, session: owner.session.save() as unknown as string }],
      apiId: s.apiId,
      apiHash: s.apiHash,
      server: { dcs: s.dcs, publicKeyPem: s.publicKeyPem },
      sendTimeoutMs: 10_000,
      pollingSeconds: 0.5,
      reachCallsPerMinute: 600,
    }),
    { logger: testLogger() },
  );
}

/** Channels `owner` creates, in the user's list; a started campaign to them, completed. */
async function sentCampaign(w: World, owner: TelegramClient, usernames: string[]) {
  const created = [];
  for (const username of usernames) created.push(await createChannel(owner, { username }));
  const { rows } = await w.sql.query(
    `insert into public.channels (owner_id, peer) select $1, '@' || u from unnest($2::text[]) u returning id`,
    [w.userId, usernames],
  );
  const id = await createCampaign(w, { channelIds: rows.map((r) => r.id), text: 'reach me', parseMode: 'plain' });
  await waitForState(w, id, 'completed', 60_000);
  return { id, created };
}

/** Readers elsewhere view every post of the campaign: `views` more each, and `forwards`. */
async function addViews(w: World, owner: TelegramClient, campaignId: string, views: number, forwards = 0) {
  const account = model.accounts.byUserId(BigInt((await owner.getMe()).id.toString()))!;
  const { rows } = await w.sql.query(
    `select d.telegram_message_id as mid, ap.telegram_id as tid, ap.access_hash as hash from public.deliveries d
     join public.campaigns c on c.id = d.campaign_id
     join private.account_peers ap on ap.account_id = c.account_id and ap.channel_id = d.channel_id
     where d.campaign_id = $1 and d.state = 'sent'`,
    [campaignId],
  );
  for (const r of rows) {
    const ch = model.channel(account, BigInt(String(r.tid).slice(4)), BigInt(r.hash));
    model.afterSend.addViews(ch, Number(r.mid), views, forwards);
  }
}

const refresh = (w: World, id: string) =>
  asUser(w.sql, w.userId, (t) => t.query('select public.refresh_campaign_reach($1)', [id]));

const rounds = async (w: World, id: string) =>
  (await w.sql.query(
    `select round, posts, views::int, forwards::int from public.reach_rounds where campaign_id = $1 order by taken_at`,
    [id],
  )).rows;

const waitRounds = (w: World, id: string, n: number) =>
  waitFor(`${n} reach rounds`, async () => {
    const r = await rounds(w, id);
    return r.length >= n && r;
  }, 30_000);

describe('reach sampling on the stand-in', () => {
  it('queues 1 h, 6 h, 24 h and 72 h rounds per window of sends; refreshes and a due round read growing views', async () => {
    const w = await createWorld();
    const owner = track(await signedIn(standIn(), testPhone(2)));
    await w.sql.query(
      `insert into public.webhook_endpoints (owner_id, url, events, secret_prefix)
       values ($1, 'https://example.com/hook', '{reach.sampled}', 'whsec_0000')`,
      [w.userId],
    );
    let reads = 0;
    model.faults.add({ method: 'messages.getMessagesViews', onMatch: () => reads++ });
    await startWorkerOn(w, owner);
    const { id } = await sentCampaign(w, owner, ['reach_one', 'reach_two', 'reach_three']);

    // each round starts its offset after the end of the 10-minute window holding the sends
    const jobs = (await w.sql.query(
      `select j.data ->> 'round' as round,
         extract(epoch from j.start_after - (select max(sent_at) from public.deliveries where campaign_id = $1)) as after
       from pgboss.job j where j.name = 'reach' and j.data ->> 'campaignId' = $1::text order by j.start_after`,
      [id],
    )).rows;
    expect(jobs.map((j) => j.round)).toEqual(['1h', '6h', '24h', '72h']);
    jobs.forEach((j, i) => {
      const hours = [1, 6, 24, 72][i]!;
      expect(Number(j.after)).toBeGreaterThan(hours * 3600);
      expect(Number(j.after)).toBeLessThanOrEqual(hours * 3600 + 600);
    });

    await addViews(w, owner, id, 40, 2);
    await refresh(w, id);
    expect(await waitRounds(w, id, 1)).toEqual([{ round: 'refresh', posts: 3, views: 120, forwards: 6 }]);
    await addViews(w, owner, id, 25);
    // the 1 h round comes due
    await w.sql.query(
      `update pgboss.job set start_after = now() where name = 'reach' and data ->> 'campaignId' = $1::text and data ->> 'round' = '1h'`,
      [id],
    );
    const [, due] = await waitRounds(w, id, 2);
    expect(due).toEqual({ round: '1h', posts: 3, views: 195, forwards: 6 });
    // one read per round (3 posts of 3 channels: one call per channel)
    expect(reads).toBe(6);
    const samples = (await w.sql.query(
      `select delivery_id, array_agg(views order by taken_at) as views from public.reach_samples
       where campaign_id = $1 group by delivery_id`,
      [id],
    )).rows;
    expect(samples.map((s) => s.views)).toEqual([[40, 65], [40, 65], [40, 65]]);
    const events = (await w.sql.query(
      `select body::jsonb -> 'data' as data from private.webhook_events where type = 'reach.sampled' order by created_at`,
    )).rows;
    expect(events.map((e) => [e.data.round, e.data.views])).toEqual([['refresh', 120], ['1h', 195]]);
    model.faults.clear();
  });

  it("a FLOOD_WAIT answered to a read holds that account's reads until it ends; its sends go on", async () => {
    const w = await createWorld();
    const owner = track(await signedIn(standIn(), testPhone(2)));
    await startWorkerOn(w, owner);
    const first = await sentCampaign(w, owner, ['flood_reach_a']);
    model.faults.add({ method: 'messages.getMessagesViews', error: { code: 420, type: 'FLOOD_WAIT_120' }, times: 1 });
    await refresh(w, first.id);
    const deferred = await waitFor('the round deferred', async () => {
      const { rows } = await w.sql.query(
        `select state, start_after from pgboss.job where name = 'reach' and data ->> 'round' = 'refresh'`,
      );
      return rows[0]?.state === 'created' && rows[0].start_after.getTime() > Date.now() + 60_000 && rows[0];
    });
    // a campaign started during the reads' wait is sent before it ends
    const second = await sentCampaign(w, owner, ['flood_reach_b']);
    const { rows } = await w.sql.query('select max(sent_at) as at from public.deliveries where campaign_id = $1', [second.id]);
    expect(rows[0].at.getTime()).toBeLessThan(deferred.start_after.getTime());
    expect(await rounds(w, first.id)).toEqual([]);
    model.faults.clear();
  });

  it("the owner's refreshes are limited per hour (429 past the quota), and only the owner may ask", async () => {
    const w = await createWorld();
    const { rows } = await w.sql.query(`insert into public.channels (owner_id, peer) values ($1, '@quota_reach') returning id`, [
      w.userId,
    ]);
    const cid = await createCampaign(w, { channelIds: [rows[0].id], start: false });
    await w.sql.query(`insert into private.quota_overrides (owner_id, name, value) values ($1, 'reach_refreshes', 2)`, [
      w.userId,
    ]);
    await refresh(w, cid);
    await refresh(w, cid);
    await expect(refresh(w, cid)).rejects.toMatchObject({ code: 'PT429' });
    const stranger = await createUser(w.db);
    await expect(asUser(w.sql, stranger, (t) => t.query('select public.refresh_campaign_reach($1)', [cid])))
      .rejects.toMatchObject({ code: 'PT404' });
  });
});
