// A worker process (gramjs, on the MTProto stand-in, real Postgres) SIGKILLed while a reach round is
// under way: another worker process takes the account over and finishes the round. Samples are
// stored after each pair of calls (views, then reactions, of one channel's posts here), so what the
// design allows to be read twice is the pair in flight at the kill: at most one call's posts (up
// to 100; one channel, one post, here). Every post has exactly one sample of the round.
//
// Time is driven, not waited: a dead worker's round stays active until the queue's 30-minute expiry,
// then waits pg-boss's retry delay (a minute). The test moves the job's start back past its expiry
// and, once pg-boss has sent it back, its retry time to now; the rest is the workers' own doing.
import type { TelegramClient } from 'telegram';
import { describe, expect, it } from 'vitest';
import { TelegramModel } from '../../scripts/telegram/model/model.ts';
import { signedIn, testPhone, useStandIn } from '../../scripts/telegram/testing.ts';
import { asUser } from '../../scripts/test/db.ts';
import { createCampaign, createWorld, waitFor, waitForState, type World } from './fixtures.ts';
import { standInChannels } from './stand-in-accounts.ts';
import { standInEnv, workerProcesses } from './worker-processes.ts';

const model = new TelegramModel();
const { standIn, track } = useStandIn({ model });
const CHANNELS = Array.from({ length: 8 }, (_, i) => `killed_reach_${i}`);

const workers = workerProcesses();

/** A worker process serving the world's account with `owner`'s session; resolves once it has started. */
const startWorkerProcess = (w: World, owner: TelegramClient) =>
  workers.start({
    ...standInEnv(standIn()),
    DATABASE_URL: w.db.url,
    TELEGRAM_ACCOUNTS: JSON.stringify([{ accountId: w.accountId, session: owner.session.save() }]),
    POLLING_SECONDS: '0.5',
    SUPERVISE_SECONDS: '1',
    // a call a second: the round of 8 channels (16 calls) is under way for some 16 s
    REACH_CALLS_PER_MINUTE: '60',
  });

/** Every read of a post's channel the stand-in answered, in order: [method, channel]. */
function readLog(): string[][] {
  const log: string[][] = [];
  for (const method of ['messages.getMessagesViews', 'messages.getMessagesReactions']) {
    for (const target of CHANNELS) model.faults.add({ method, target, onMatch: () => log.push([method, target]) });
  }
  return log;
}

const timesRead = (log: string[][], method: string) => {
  const n = new Map(CHANNELS.map((c) => [c, 0]));
  for (const [m, c] of log) if (m === method) n.set(c!, n.get(c!)! + 1);
  return [...n.values()];
};

describe('a worker SIGKILLed mid-round', () => {
  it('another worker finishes the round; every post sampled once, only the call pair in flight read twice', async () => {
    const w = await createWorld();
    const owner = track(await signedIn(standIn(), testPhone(2)));
    const { ids } = await standInChannels(w, owner, CHANNELS);
    const first = (await startWorkerProcess(w, owner)).child;
    const id = await createCampaign(w, { channelIds: ids, text: 'read me twice? no', parseMode: 'plain' });
    await waitForState(w, id, 'completed', 60_000);

    const log = readLog();
    await asUser(w.sql, w.userId, (t) => t.query('select public.refresh_campaign_reach($1)', [id]));
    await waitFor('three channels read', async () => timesRead(log, 'messages.getMessagesViews').filter(Boolean).length >= 3);
    await workers.kill(first);
    const beforeKill = log.length;
    const { rows: [job] } = await w.sql.query(
      `select id, state from pgboss.job where name = 'reach' and data ->> 'round' = 'refresh'`,
    );
    expect(job.state).toBe('active'); // the round was under way
    const sampledBefore = (await w.sql.query('select count(*)::int as n from public.reach_samples where job_id = $1', [job.id]))
      .rows[0].n;
    expect(sampledBefore).toBeLessThan(CHANNELS.length);

    await startWorkerProcess(w, owner);
    // the queue's expiry passes (30 minutes): the new worker's supervision sends the round back
    await w.sql.query(
      `update pgboss.job set started_on = started_on - make_interval(secs => expire_seconds + 1) where id = $1`,
      [job.id],
    );
    await waitFor('the round sent back', async () => {
      const { rows } = await w.sql.query(`select state from pgboss.job where id = $1`, [job.id]);
      return rows[0].state === 'retry';
    }, 30_000);
    await w.sql.query(`update pgboss.job set start_after = now() where id = $1 and state = 'retry'`, [job.id]); // its retry delay passes
    await waitFor('the round finished', async () => {
      const { rows } = await w.sql.query(`select state from pgboss.job where id = $1`, [job.id]);
      return rows[0].state === 'completed';
    }, 60_000);

    const rounds = (await w.sql.query(`select round, posts from public.reach_rounds where campaign_id = $1`, [id])).rows;
    expect(rounds).toEqual([{ round: 'refresh', posts: CHANNELS.length }]);
    const samples = (await w.sql.query(
      `select count(*)::int as n, count(distinct delivery_id)::int as posts from public.reach_samples where job_id = $1`,
      [job.id],
    )).rows[0];
    expect(samples).toEqual({ n: CHANNELS.length, posts: CHANNELS.length });
    expect(log.length).toBeGreaterThan(beforeKill); // the second worker read the rest
    for (const method of ['messages.getMessagesViews', 'messages.getMessagesReactions']) {
      const reads = timesRead(log, method);
      console.log(`[reach-kill] ${method}: reads per channel ${reads.join(',')}; ${sampledBefore} posts sampled before the kill`);
      expect(reads.every((n) => n === 1 || n === 2)).toBe(true);
      expect(reads.filter((n) => n === 2).length).toBeLessThanOrEqual(1);
    }
    model.faults.clear();
  }, 180_000);
});
