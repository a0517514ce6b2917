// Reach sampling through the whole worker (TELEGRAM_MODE gramjs, the account's session) on the
// stand-in over MTProto: a sent campaign queues its four rounds, an owner's refresh and a due round
// read views with messages.getMessagesViews (increment false) and reactions with
// messages.getMessagesReactions, the samples show them growing, a
// reach.sampled event is written for each round, and a FLOOD_WAIT on reads holds reads, not sends.
import { describe, expect, it } from 'vitest';
import type { TelegramClient } from 'telegram';
import { asUser, createUser } from '../../scripts/test/db.ts';
import { signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { TelegramModel } from '../../scripts/telegram/model/model.ts';
import { CAMPAIGN_REACH_EVENT, campaignReachEventSchema, campaignTopic } from '../../contracts/realtime.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import { LOCK_CLASS } from '../src/db.ts';
import {
  addChannels,
  createCampaign,
  createWorld,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
  type World,
} from './fixtures.ts';
import { sessionConfig, standInChannels } from './stand-in-accounts.ts';

const model = new TelegramModel();
const { standIn, track } = useStandIn({ model });

function startWorkerOn(w: World, owner: TelegramClient, reachCallsPerMinute = 600) {
  const config = sessionConfig(standIn(), w, owner, { sendTimeoutMs: 10_000, pollingSeconds: 0.5, reachCallsPerMinute });
  return startTestWorker(config, { logger: testLogger() });
}

/** Channels `owner` creates, in the user's list; a started campaign to them, completed. */
async function sentCampaign(w: World, owner: TelegramClient, usernames: string[]) {
  const { created, ids } = await standInChannels(w, owner, usernames);
  const id = await createCampaign(w, { channelIds: ids, text: 'reach me', parseMode: 'plain' });
  await waitForState(w, id, 'completed', 60_000);
  return { id, created };
}

/** Readers elsewhere view every post of the campaign: `views` more each, `forwards`, and `likes` 👍 and one 🔥. */
async function addViews(w: World, owner: TelegramClient, campaignId: string, views: number, forwards = 0, likes = 0) {
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
    if (likes) model.afterSend.addReactions(ch, Number(r.mid), '👍', likes);
    if (likes) model.afterSend.addReactions(ch, Number(r.mid), '🔥', 1);
  }
}

const refresh = (w: World, id: string) =>
  asUser(w.sql, w.userId, (t) => t.query('select public.refresh_campaign_reach($1)', [id]));

const rounds = async (w: World, id: string) =>
  (await w.sql.query(
    `select round, posts, views::int, forwards::int, reactions::int from public.reach_rounds where campaign_id = $1 order by taken_at`,
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
    let reactionReads = 0;
    model.faults.add({ method: 'messages.getMessagesViews', onMatch: () => reads++ });
    model.faults.add({ method: 'messages.getMessagesReactions', onMatch: () => reactionReads++ });
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

    await addViews(w, owner, id, 40, 2, 4);
    await refresh(w, id);
    expect(await waitRounds(w, id, 1)).toEqual([{ round: 'refresh', posts: 3, views: 120, forwards: 6, reactions: 15 }]);
    await addViews(w, owner, id, 25, 0, 2);
    // the 1 h round comes due
    await w.sql.query(
      `update pgboss.job set start_after = now() where name = 'reach' and data ->> 'campaignId' = $1::text and data ->> 'round' = '1h'`,
      [id],
    );
    const [, due] = await waitRounds(w, id, 2);
    expect(due).toEqual({ round: '1h', posts: 3, views: 195, forwards: 6, reactions: 24 });
    // one read of each kind per round (3 posts of 3 channels: one call per channel)
    expect([reads, reactionReads]).toEqual([6, 6]);
    const samples = (await w.sql.query(
      `select delivery_id, array_agg(views order by taken_at) as views, array_agg(reactions order by taken_at) as reactions
       from public.reach_samples where campaign_id = $1 group by delivery_id`,
      [id],
    )).rows;
    expect(samples.map((s) => s.views)).toEqual([[40, 65], [40, 65], [40, 65]]);
    expect(samples.map((s) => s.reactions)).toEqual([[5, 8], [5, 8], [5, 8]]);
    const table = await asUser(
      w.sql,
      w.userId,
      (t) => t.query('select reactions from public.delivery_reach where campaign_id = $1', [id]),
    );
    expect(table.rows.map((r) => r.reactions)).toEqual([8, 8, 8]);
    const events = (await w.sql.query(
      `select body::jsonb -> 'data' as data from private.webhook_events where type = 'reach.sampled' order by created_at`,
    )).rows;
    expect(events.map((e) => [e.data.round, e.data.views, e.data.reactions])).toEqual([['refresh', 120, 15], ['1h', 195, 24]]);
    const broadcast = (await w.sql.query(
      `select payload from realtime.messages where topic = $1 and event = $2 and private order by inserted_at`,
      [campaignTopic(id), CAMPAIGN_REACH_EVENT],
    )).rows.map((r) => campaignReachEventSchema.parse(r.payload));
    expect(broadcast.map((e) => [e.round, e.views, e.forwards, e.reactions])).toEqual([['refresh', 120, 6, 15], [
      '1h',
      195,
      6,
      24,
    ]]);
    model.faults.clear();
  });

  it("reads one channel per call at the account's reach pace", async () => {
    const w = await createWorld();
    const owner = track(await signedIn(standIn(), testPhone(2)));
    await startWorkerOn(w, owner, 60);
    const { id } = await sentCampaign(w, owner, ['paced_a', 'paced_b', 'paced_c', 'paced_d']);
    const at: number[] = [];
    model.faults.add({ method: 'messages.getMessagesViews', onMatch: () => at.push(performance.now()) });
    await refresh(w, id);
    await waitRounds(w, id, 1);
    model.faults.clear();
    expect(at).toHaveLength(4);
    // 60 a minute: a second apart at least, as the worker starts them (arrival jitter aside)
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThan(900);
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

  it('the simulator answers getMessagesViews and getMessagesReactions with what readers gave each post', async () => {
    const w = await createWorld();
    const simulator = new TelegramSimulator();
    await startTestWorker(testConfig(w, { pollingSeconds: 0.5, reachCallsPerMinute: 600 }), { simulator, logger: testLogger() });
    const { ids, peers } = await addChannels(w, 2, 'sim_reach');
    const id = await createCampaign(w, { channelIds: ids });
    await waitForState(w, id, 'completed');
    const { rows } = await w.sql.query(
      `select c.peer, d.telegram_message_id as mid from public.deliveries d join public.channels c on c.id = d.channel_id
       where d.campaign_id = $1`,
      [id],
    );
    for (const r of rows) simulator.addViews(r.peer, Number(r.mid), r.peer === peers[0] ? 5 : 9, 1);
    for (const r of rows) simulator.addReactions(r.peer, Number(r.mid), r.peer === peers[0] ? 2 : 3);
    await refresh(w, id);
    expect(await waitRounds(w, id, 1)).toEqual([{ round: 'refresh', posts: 2, views: 14, forwards: 2, reactions: 5 }]);
  });
});

describe('worker_reach_take and the samples of a round (SQL)', () => {
  it("gives a job only to the session holding the account's lock, for an active account; a round taken again reads what is left", async () => {
    const w = await createWorld();
    const { ids } = await addChannels(w, 3, 'take_reach');
    const id = await createCampaign(w, { channelIds: ids, start: false });
    await w.sql.query(
      `update public.deliveries set state = 'sent', telegram_message_id = 1, sent_at = now() where campaign_id = $1`,
      [id],
    );
    await refresh(w, id);
    const holder = await w.db.connect();
    const take = async (pid: number) =>
      (await w.sql.query('select * from public.worker_reach_take($1, $2::uuid[])', [pid, [w.accountId]])).rows;
    try {
      const { rows: [{ pid }] } = await holder.query('select pg_backend_pid() as pid, pg_advisory_lock($1, hashtext($2))', [
        LOCK_CLASS,
        w.accountId,
      ]);
      const { rows: [{ pid: other }] } = await w.sql.query('select pg_backend_pid() as pid');
      expect(await take(other)).toEqual([]); // this session does not hold the lock
      for (const status of ['limited', 'frozen', 'disabled', 'logging_in']) {
        await w.sql.query(`update public.telegram_accounts set status = $2 where id = $1`, [w.accountId, status]);
        expect(await take(pid)).toEqual([]);
      }
      await w.sql.query(
        `update public.telegram_accounts set status = 'flood_wait', flood_wait_until = now() + interval '1 minute' where id = $1`,
        [w.accountId],
      );
      expect(await take(pid)).toEqual([]);
      await w.sql.query(`update public.telegram_accounts set status = 'active', flood_wait_until = null where id = $1`, [
        w.accountId,
      ]);
      const [job] = await take(pid);
      expect(job).toMatchObject({ campaign_id: id, account_id: w.accountId, round: 'refresh' });
      expect(await take(pid)).toEqual([]); // one job at a time: it is active now
      const targets = async () => (await w.sql.query('select * from public.worker_reach_targets($1, 10)', [job.job_id])).rows;
      const first = (await targets())[0];
      const sample = [{ deliveryId: first.delivery_id, views: 3, forwards: 0, replies: 0, errorCode: null }];
      await w.sql.query('select public.worker_reach_store($1, $2::jsonb)', [job.job_id, JSON.stringify(sample)]);
      await w.sql.query('select public.worker_reach_store($1, $2::jsonb)', [job.job_id, JSON.stringify(sample)]);
      // the worker died: the job comes back (here: deferred), and is taken again
      await w.sql.query('select public.worker_reach_defer($1, now())', [job.job_id]);
      const [again] = await take(pid);
      expect(again.job_id).toBe(job.job_id);
      expect((await targets()).map((t) => t.delivery_id)).not.toContain(first.delivery_id);
      expect(await targets()).toHaveLength(2);
      const { rows: [n] } = await w.sql.query('select count(*)::int as n from public.reach_samples where job_id = $1', [
        job.job_id,
      ]);
      expect(n.n).toBe(1);
    } finally {
      await holder.end();
    }
  });
});
