// Workers sharing the accounts: each holds about its fair share of the busy and of the idle
// accounts, a worker over its share hands accounts over between sends, and a stopped worker's
// accounts move to the others with every delivery sent once.
import { describe, expect, it } from 'vitest';
import type { RunningWorker } from '../src/worker.ts';
import { fairShare, planShare } from '../src/fleet-share.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addAccount,
  addChannels,
  createCampaign,
  createWorld,
  deliveryCounts,
  startTestWorker,
  testConfig,
  testLogger,
  waitFor,
  waitForState,
  type World,
} from './fixtures.ts';

describe('fair share', () => {
  it('splits each kind evenly, rounding up, within maxAccounts', () => {
    expect(fairShare(3, { busy: 90, idle: 0 }, 1_000)).toEqual({ busy: 30, idle: 0 });
    expect(fairShare(2, { busy: 90, idle: 7 }, 1_000)).toEqual({ busy: 45, idle: 4 });
    // Busy accounts first when the bound is reached.
    expect(fairShare(2, { busy: 30, idle: 10 }, 12)).toEqual({ busy: 12, idle: 0 });
    expect(fairShare(2, { busy: 10, idle: 10 }, 8)).toEqual({ busy: 5, idle: 3 });
    // Not yet counted itself (its session just opened): as if alone.
    expect(fairShare(0, { busy: 4, idle: 1 }, 1_000)).toEqual({ busy: 4, idle: 1 });
  });

  it('hands over what is beyond the share, the first ones of each kind, and leaves room below it', () => {
    expect(planShare({ busy: ['a', 'b', 'c', 'd'], idle: ['e'] }, { busy: 2, idle: 3 })).toEqual({
      give: ['a', 'b'],
      room: { busy: 0, idle: 2 },
    });
    expect(planShare({ busy: [], idle: ['e', 'f'] }, { busy: 1, idle: 1 })).toEqual({ give: ['e'], room: { busy: 1, idle: 0 } });
  });
});

/** A world with `n` accounts (the first is the world's) at `ratePerMinute`. */
async function accounts(world: World, n: number, ratePerMinute: number): Promise<string[]> {
  const ids = [world.accountId];
  await world.sql.query('update public.telegram_accounts set rate_per_minute = $1', [ratePerMinute]);
  while (ids.length < n) ids.push(await addAccount(world.sql, world.userId, ratePerMinute));
  return ids;
}

/** Accounts a worker holds and sends with. */
const running = (w: RunningWorker) => w.accounts().filter((a) => a.status === 'running').map((a) => a.id).sort();

/** Workers serving the database's accounts (no list of their own), on one simulator. */
async function startWorkers(world: World, sim: TelegramSimulator, n: number): Promise<RunningWorker[]> {
  const workers: RunningWorker[] = [];
  for (let i = 0; i < n; i++) {
    workers.push(await startTestWorker(testConfig(world, { accounts: null }), { logger: testLogger(), simulator: sim }));
  }
  return workers;
}

/** A campaign per account to the channels, each under way (a few sent). */
async function sendingOnEach(world: World, ids: string[], channels: string[]): Promise<string[]> {
  const campaigns = [];
  for (const accountId of ids) campaigns.push(await createCampaign(world, { channelIds: channels, accountId }));
  await waitFor('sending on every account', async () => {
    const { rows } = await world.sql.query('select count(*)::int as n from public.campaigns where sent_count >= 2');
    return rows[0].n === ids.length;
  }, 20_000);
  return campaigns;
}

async function expectSentOnce(world: World, sim: TelegramSimulator, campaigns: string[], peers: string[]): Promise<void> {
  for (const id of campaigns) expect(await deliveryCounts(world, id)).toEqual({ sent: peers.length });
  const { rows } = await world.sql.query(
    'select count(*)::int as n from public.deliveries where campaign_id = any($1::uuid[]) and attempts <> 1',
    [campaigns],
  );
  // No send abandoned half way and made again: each delivery took one attempt.
  expect(rows[0].n).toBe(0);
  const counts = await sim.countsByPeer();
  for (const p of peers) expect(counts.get(p)).toBe(campaigns.length);
}

describe('workers sharing accounts', () => {
  it('three workers spread six idle accounts; a stopped one hands its busy accounts to the other two', async () => {
    const world = await createWorld();
    const ids = await accounts(world, 6, 120);
    const { ids: channels, peers } = await addChannels(world, 12);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 10_000 });
    const [first, ...rest] = await startWorkers(world, sim, 3);
    const all = [first!, ...rest];
    // Idle accounts are spread too: two each, whichever worker started first.
    await waitFor('two accounts each', async () => all.every((w) => running(w).length === 2), 20_000);
    const campaigns = await sendingOnEach(world, ids, channels);
    const moved = running(first!);
    await first!.stop();
    await waitFor('three accounts each on the other two', async () => rest.every((w) => running(w).length === 3), 20_000);
    const after = rest.flatMap(running);
    for (const id of moved) expect(after).toContain(id);
    for (const id of campaigns) await waitForState(world, id, 'completed', 30_000);
    await expectSentOnce(world, sim, campaigns, peers);
  });

  it('a worker over its share hands busy accounts over between sends to one that starts', async () => {
    const world = await createWorld();
    const ids = await accounts(world, 4, 120);
    const { ids: channels, peers } = await addChannels(world, 16);
    const sim = new TelegramSimulator({ accountPerSecond: 10_000, chatPerMinute: 10_000, latencyMs: [50, 150] });
    const [first] = await startWorkers(world, sim, 1);
    await waitFor('all four on the first', async () => running(first!).length === 4, 20_000);
    const campaigns = await sendingOnEach(world, ids, channels);
    const [second] = await startWorkers(world, sim, 1);
    await waitFor('two accounts each', async () => running(first!).length === 2 && running(second!).length === 2, 20_000);
    const handed = running(second!);
    for (const id of campaigns) await waitForState(world, id, 'completed', 30_000);
    // The second sent for the accounts it was handed (their campaigns were half way).
    const sent = (await second!.metrics.outcomes.get()).values.filter((v) => v.labels.outcome === 'sent');
    expect(sent.map((v) => v.labels.account)).toEqual(expect.arrayContaining(handed));
    await expectSentOnce(world, sim, campaigns, peers);
  });

  it('workers with lists of their own share nothing: each keeps every listed account', async () => {
    const world = await createWorld();
    const ids = await accounts(world, 4, 600);
    const sim = new TelegramSimulator();
    const listed = (of: string[]) => testConfig(world, { accounts: of.map((accountId) => ({ accountId })) });
    const a = await startTestWorker(listed(ids.slice(0, 2)), { logger: testLogger(), simulator: sim });
    const b = await startTestWorker(listed(ids.slice(2)), { logger: testLogger(), simulator: sim });
    // Not half each of their lists, as two sharing workers would hold.
    await waitFor('both lists served', async () => running(a).length === 2 && running(b).length === 2, 20_000);
    expect([...running(a), ...running(b)].sort()).toEqual([...ids].sort());
  });
});
