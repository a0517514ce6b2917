// Peers are per account: every account resolves a channel itself, once, and sends with the access
// hash Telegram gave it (the simulator refuses another account's hash with CHANNEL_INVALID).
import { Api, errors } from 'telegram';
import { describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { setChannelPeers } from '../src/db.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import {
  addAccount,
  addChannels,
  campaign,
  createCampaign,
  createWorld,
  deliveryCounts,
  startTestWorker,
  testConfig,
  testLogger,
  waitForState,
} from './fixtures.ts';

/**
 * A simulator that counts contacts.resolveUsername calls per account and, once `floodSeconds` is
 * set, answers the next one with FLOOD_WAIT_<floodSeconds> and every other until it ends, as
 * Telegram answers a burst of resolutions.
 */
class CountingSimulator extends TelegramSimulator {
  readonly resolutions = new Map<string, number>();
  floodSeconds = 0;
  floodUntil = 0;
  flooded = 0;
  /** Resolutions that reached the simulator once the FLOOD_WAIT was answered and before it ended. */
  duringFlood = 0;
  override handle(accountId: string, request: Api.AnyRequest): Promise<unknown> {
    if (!(request instanceof Api.contacts.ResolveUsername)) return super.handle(accountId, request);
    this.resolutions.set(accountId, (this.resolutions.get(accountId) ?? 0) + 1);
    const now = Date.now();
    if (this.floodSeconds && !this.floodUntil) this.floodUntil = now + this.floodSeconds * 1000;
    else if (now >= this.floodUntil) return super.handle(accountId, request);
    else this.duringFlood++;
    this.flooded++;
    const seconds = Math.ceil((this.floodUntil - now) / 1000);
    const rpc = new Api.RpcError({ errorCode: 420, errorMessage: `FLOOD_WAIT_${seconds}` });
    return Promise.reject(errors.RPCMessageToError(rpc, request));
  }
}

describe('peers per account', () => {
  it('two accounts of one owner post to the same 30 channels: 60 of 60 sent, each channel resolved once per account', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const second = await addAccount(world.sql, world.userId, 60_000);
    const { ids, peers } = await addChannels(world, 30);
    const sim = new CountingSimulator({ accountPerSecond: 10_000 });
    const config = testConfig(world, { accounts: [{ accountId: world.accountId }, { accountId: second }] });
    const worker = await startTestWorker(config, { logger: testLogger(), simulator: sim });

    // The first account resolves every channel; the second then posts to the same channels.
    const first = await createCampaign(world, { channelIds: ids });
    await waitForState(world, first, 'completed', 30_000);
    const next = await createCampaign(world, { channelIds: ids, accountId: second });
    await waitForState(world, next, 'completed', 30_000);

    for (const id of [first, next]) {
      expect(await campaign(world, id)).toMatchObject({ sent_count: 30, failed_count: 0 });
      expect(await deliveryCounts(world, id)).toEqual({ sent: 30 });
    }
    const counts = await sim.countsByPeer();
    expect(peers.map((p) => counts.get(p))).toEqual(peers.map(() => 2));
    expect(Object.fromEntries(sim.resolutions)).toEqual({ [world.accountId]: 30, [second]: 30 });
    const cached = await world.sql.query(
      `select account_id, count(*)::int as n, count(distinct access_hash)::int as hashes
       from private.account_peers group by account_id order by account_id`,
    );
    expect(cached.rows).toEqual(
      [world.accountId, second].sort().map((account_id) => ({ account_id, n: 30, hashes: 30 })),
    );

    // Kept: a new process sends with the cached peers and resolves none of them again.
    await worker.stop();
    sim.resolutions.clear();
    await startTestWorker(config, { logger: testLogger(), simulator: sim });
    const again = await createCampaign(world, { channelIds: ids, accountId: second });
    await waitForState(world, again, 'completed', 30_000);
    expect(await deliveryCounts(world, again)).toEqual({ sent: 30 });
    expect(sim.resolutions.size).toBe(0);
  });

  it('a FLOOD_WAIT answered to a resolution pauses the account and spends no attempt', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids } = await addChannels(world, 30);
    const sim = new CountingSimulator({ accountPerSecond: 10_000 });
    sim.floodSeconds = 2;
    await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    expect((await waitForState(world, id, 'paused', 10_000)).pause_reason).toBe('flood_wait');
    await waitForState(world, id, 'completed', 30_000);
    expect(await deliveryCounts(world, id)).toEqual({ sent: 30 });
    const { rows } = await world.sql.query(
      'select count(*)::int as n from public.deliveries where campaign_id = $1 and attempts = 1',
      [id],
    );
    expect(rows[0].n).toBe(30);
    // Only the lookups already under way when the answer came were flooded; none started during the wait.
    expect(sim.flooded).toBeGreaterThan(0);
    expect(sim.duringFlood).toBe(sim.flooded - 1);
    expect(sim.flooded).toBeLessThanOrEqual(8);
    expect(sim.resolutions.get(world.accountId)).toBe(30 + sim.flooded);
  });

  it('a peer known without an access hash is resolved, never sent with hash 0', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids, peers } = await addChannels(world, 3);
    await world.sql.query(
      `insert into private.account_peers (account_id, channel_id, telegram_id, access_hash)
       select $1, c, t::bigint, null from unnest($2::uuid[], $3::text[]) as x (c, t)`,
      [world.accountId, ids, peers.map((p) => TelegramSimulator.markedIdFor(p))],
    );
    const sim = new CountingSimulator({ accountPerSecond: 10_000 });
    // The channels exist at Telegram (someone resolved them); this account has no hash for them.
    for (const p of peers) await sim.handle('someone else', new Api.contacts.ResolveUsername({ username: p.slice(1) }));
    await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 20_000);
    expect(await deliveryCounts(world, id)).toEqual({ sent: 3 });
    expect(sim.resolutions.get(world.accountId)).toBe(3);
    const { rows } = await world.sql.query('select count(*)::int as n from private.account_peers where access_hash is null');
    expect(rows[0].n).toBe(0);
  });

  it('recording resolved peers reads their accounts and channels by key and rewrites a channel once', async () => {
    // An owner with 50 accounts and 2,000 channels: what the recorder's write reads must grow
    // with the peers it records, never with the owner's accounts or channels (counted rows, not
    // time: the same on a loaded machine).
    const world = await createWorld();
    const accounts = [world.accountId];
    while (accounts.length < 50) accounts.push(await addAccount(world.sql, world.userId, 6000));
    const { ids, peers } = await addChannels(world, 2000);
    await world.sql.query('analyze public.channels, public.telegram_accounts');
    const k = 10;
    // Rows read and updated by this connection (pending statistics, read before and after).
    const counted = async () => {
      const { rows } = await world.sql.query(
        `select relname, (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int as read, n_tup_upd::int as updated
         from pg_stat_xact_all_tables where relid in ('public.channels'::regclass, 'public.telegram_accounts'::regclass)`,
      );
      return new Map(rows.map((r) => [r.relname as string, { read: r.read as number, updated: r.updated as number }]));
    };
    const record = async (accountId: string) => {
      await world.sql.query('begin');
      try {
        const before = await counted();
        await setChannelPeers(
          world.sql,
          ids.slice(0, k).map((channelId, i) => ({
            accountId,
            channelId,
            telegramId: TelegramSimulator.markedIdFor(peers[i]!),
            accessHash: String(1000 + i),
          })),
        );
        const after = await counted();
        const delta = (t: string) => ({
          read: after.get(t)!.read - before.get(t)!.read,
          updated: after.get(t)!.updated - before.get(t)!.updated,
        });
        return { channels: delta('channels'), accounts: delta('telegram_accounts') };
      } finally {
        await world.sql.query('commit');
      }
    };
    const first = await record(accounts[0]!);
    // A few rows per peer (its account and channel looked up, the foreign keys checked, the
    // channel updated), not the owner's 2,000 channels or 50 accounts.
    expect(first.channels.read).toBeLessThanOrEqual(8 * k);
    expect(first.accounts.read).toBeLessThanOrEqual(8 * k);
    expect(first.channels.updated).toBe(k);
    // Another account of the owner resolves the same channels: its own hashes are kept, and the
    // channels (whose Telegram id is the same for every account) are not written again.
    const second = await record(accounts[1]!);
    expect(second.channels.read).toBeLessThanOrEqual(8 * k);
    expect(second.accounts.read).toBeLessThanOrEqual(8 * k);
    expect(second.channels.updated).toBe(0);
    const { rows } = await world.sql.query('select count(*)::int as n from private.account_peers');
    expect(rows[0].n).toBe(2 * k);
  });

  it('keeps access hashes out of the owner’s reach', async () => {
    const world = await createWorld();
    await addChannels(world, 1);
    const read = (q: string) =>
      asUser(world.sql, world.userId, (t) => t.query(q)).then(() => 'read', (e: { code?: string }) => e.code);
    expect(await read('select * from private.account_peers')).toBe('42501');
    expect(await read('select access_hash from public.channels')).toBe('42703');
  });
});
