// The Telegram simulator's answers that the worker's send path relies on, through a real GramJS
// TelegramClient (invoke, request serialisation, RPC error classes) on the simulated sender:
// access hashes per account, RANDOM_ID_DUPLICATE while a first send is in flight, Telegram
// unreachable, the connection probe (help.GetNearestDc), latency, and the simulator's own CPU
// cost per send.
import { describe, expect, it } from 'vitest';
import { Api, errors, type TelegramClient } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { simulatedClient } from '../src/simulator/simulated-client.ts';
import { MemoryMessageStore } from '../src/simulator/store.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import { sleep } from '../../contracts/time.ts';
import { ManualClock } from './clock.ts';

async function inputPeer(client: TelegramClient, username: string): Promise<Api.InputPeerChannel> {
  const r = await client.invoke(new Api.contacts.ResolveUsername({ username }));
  const chat = r.chats[0] as Api.Channel;
  return new Api.InputPeerChannel({ channelId: chat.id, accessHash: chat.accessHash! });
}

/** messages.SendMessage as the worker sends it: resolves with the posted message's id. */
async function send(client: TelegramClient, peer: Api.InputPeerChannel, randomId: string): Promise<number> {
  const r = await client.invoke(new Api.messages.SendMessage({ peer, message: 'hi', randomId: returnBigInt(randomId) }));
  const u = (r as Api.Updates).updates.find((x) => x instanceof Api.UpdateMessageID) as Api.UpdateMessageID;
  return u.id;
}

/** What a promise did within ms of real time: its value, its error, or 'pending' (for hung calls). */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown } | 'pending'> {
  return await Promise.race([
    p.then((value) => ({ value }), (error: unknown) => ({ error })),
    sleep(ms).then(() => 'pending' as const),
  ]);
}

describe('access hashes (core.telegram.org/api/peers, "Access hash")', () => {
  it('gives each account its own access hash and refuses another account’s, or 0, with CHANNEL_INVALID', async () => {
    const sim = new TelegramSimulator();
    const a = simulatedClient(sim, 'acct-a');
    const b = simulatedClient(sim, 'acct-b');
    const peerOfA = await inputPeer(a, 'hash_room');
    const peerOfB = await inputPeer(b, 'hash_room');
    expect(peerOfB.channelId.toString()).toBe(peerOfA.channelId.toString());
    expect(peerOfB.accessHash.toString()).not.toBe(peerOfA.accessHash.toString());
    const refused = (p: Promise<unknown>) => p.then(() => 'sent', (e: { errorMessage?: string }) => e.errorMessage);
    expect(await refused(send(b, peerOfA, '1'))).toBe('CHANNEL_INVALID');
    const zero = new Api.InputPeerChannel({ channelId: peerOfB.channelId, accessHash: returnBigInt(0) });
    expect(await refused(send(b, zero, '2'))).toBe('CHANNEL_INVALID');
    expect(await refused(send(b, peerOfB, '3'))).toBe('sent');
    expect(await refused(send(a, peerOfA, '1'))).toBe('sent');
  });
});

describe('RANDOM_ID_DUPLICATE while the first send is in flight', () => {
  it("answers a resend during the first call's latency with 500 RANDOM_ID_DUPLICATE, later ones with the original message", async () => {
    const clock = new ManualClock();
    const sim = new TelegramSimulator({ latencyMs: [150, 150] }, undefined, clock);
    const client = simulatedClient(sim, 'acct');
    const peer = await clock.run(inputPeer(client, 'dup_room'));
    const first = send(client, peer, '777');
    await clock.advance(20);
    const second = await clock.run(send(client, peer, '777').catch((e: unknown) => e));
    // The class GramJS's MTProtoSender builds from Telegram's rpc_error: not a ServerError, so
    // invoke() hands it over at once instead of retrying it.
    expect(second).toBeInstanceOf(errors.RPCError);
    expect(second).not.toBeInstanceOf(errors.ServerError);
    expect(second).toMatchObject({ code: 500, errorMessage: 'RANDOM_ID_DUPLICATE' });
    expect(clock.now() - sim.sends[0]!.at).toBe(20); // the first was posted 130 ms before
    const id = await first;
    expect(await clock.run(send(client, peer, '777'))).toBe(id);
    expect(sim.sends.map((s) => s.duplicate)).toEqual([false, true]);
    expect((await sim.countsByPeer()).get('@dup_room')).toBe(1);
  });

  it('is per account and random_id: other random_ids and other accounts post meanwhile', async () => {
    const sim = new TelegramSimulator({ latencyMs: [100, 100] });
    const a = simulatedClient(sim, 'acct-a');
    const b = simulatedClient(sim, 'acct-b');
    const peer = await inputPeer(a, 'shared_room');
    const peerOfB = await inputPeer(b, 'shared_room');
    const ids = await Promise.all([send(a, peer, '1'), send(a, peer, '2'), send(b, peerOfB, '1')]);
    expect(new Set(ids).size).toBe(3);
    expect((await sim.countsByPeer()).get('@shared_room')).toBe(3);
  });

  it('holds a slow first call (processingMs) in flight: resends get the error until it is posted', async () => {
    const clock = new ManualClock();
    const sim = new TelegramSimulator({ targets: { '@slow_room': { processingMs: 400, times: 1 } } }, undefined, clock);
    const client = simulatedClient(sim, 'acct');
    const peer = await inputPeer(client, 'slow_room');
    const first = send(client, peer, '55');
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) {
      await clock.advance(i < 3 ? 80 : 159); // 80, 160, 240 and 399 ms into the 400 ms
      answers.push(
        await send(client, peer, '55').then(() => 'message', (e: { errorMessage?: string }) => e.errorMessage ?? String(e)),
      );
    }
    expect(answers).toEqual(Array(4).fill('RANDOM_ID_DUPLICATE'));
    expect(sim.sends).toHaveLength(0);
    await clock.advance(1);
    const id = await first;
    expect(await send(client, peer, '55')).toBe(id);
    expect((await sim.countsByPeer()).get('@slow_room')).toBe(1);
  });

  it('a hang after posting is no longer in flight (the resend finds the message); a hang before posting never reached Telegram', async () => {
    const sim = new TelegramSimulator({
      targets: { '@after': { hang: 'after', times: 1 }, '@before': { hang: 'before', times: 1 } },
    });
    const client = simulatedClient(sim, 'acct');
    const after = await inputPeer(client, 'after');
    const before = await inputPeer(client, 'before');
    expect(await within(send(client, after, '9'), 100)).toBe('pending');
    expect(await within(send(client, before, '9'), 100)).toBe('pending');
    expect(await send(client, after, '9')).toEqual(expect.any(Number));
    expect(await send(client, before, '9')).toEqual(expect.any(Number));
    const counts = await sim.countsByPeer();
    expect([counts.get('@after'), counts.get('@before')]).toEqual([1, 1]);
  });
});

describe('Telegram unreachable', () => {
  it('leaves every request of the account unanswered for the period, then answers again', async () => {
    const clock = new ManualClock();
    const sim = new TelegramSimulator({}, undefined, clock);
    const client = simulatedClient(sim, 'acct');
    const other = simulatedClient(sim, 'other');
    const peer = await inputPeer(client, 'net_room');
    sim.setUnreachable(clock.now() + 400, 'acct');
    expect(sim.isUnreachable('acct')).toBe(true);
    const hung: Array<Promise<unknown>> = [
      send(client, peer, '1'),
      client.invoke(new Api.contacts.ResolveUsername({ username: 'net_room' })),
      client.invoke(new Api.help.GetNearestDc()),
    ];
    await clock.advance(399);
    for (const p of hung) expect(await within(p, 50)).toBe('pending');
    expect(sim.isUnreachable('acct')).toBe(true);
    // Another account still reaches Telegram.
    expect(await send(other, await inputPeer(other, 'net_room'), '1')).toEqual(expect.any(Number));
    await clock.advance(1);
    expect(sim.isUnreachable('acct')).toBe(false);
    expect(await client.invoke(new Api.help.GetNearestDc())).toBeInstanceOf(Api.NearestDc);
    expect(await send(client, peer, '2')).toEqual(expect.any(Number));
    // Requests made during the outage stay unanswered; the one that never arrived posted nothing.
    expect(await within(hung[0]!, 50)).toBe('pending');
    expect(sim.sends.filter((s) => s.accountId === 'acct').map((s) => s.randomId)).toEqual(['2']);
  });

  it('goes away for everyone with setUnreachable(Infinity) and comes back with setUnreachable(null)', async () => {
    const sim = new TelegramSimulator();
    const client = simulatedClient(sim, 'acct');
    sim.setUnreachable(Infinity);
    expect(await within(client.invoke(new Api.help.GetNearestDc()), 200)).toBe('pending');
    sim.setUnreachable(null);
    expect(await client.invoke(new Api.help.GetNearestDc())).toBeInstanceOf(Api.NearestDc);
  });

  it('injects an outage after N posted messages (option unreachable)', async () => {
    const clock = new ManualClock();
    const sim = new TelegramSimulator({ unreachable: { afterSends: 3, forMs: 400 } }, undefined, clock);
    const client = simulatedClient(sim, 'acct');
    const peer = await inputPeer(client, 'outage_room');
    for (const id of ['1', '2', '3']) await send(client, peer, id);
    expect(await within(send(client, peer, '4'), 100)).toBe('pending');
    await clock.advance(399);
    expect(await within(client.invoke(new Api.help.GetNearestDc()), 100)).toBe('pending');
    await clock.advance(1);
    expect(await send(client, peer, '5')).toEqual(expect.any(Number));
    // Once only: the campaign goes on.
    expect(await send(client, peer, '6')).toEqual(expect.any(Number));
    expect(sim.sends.map((s) => s.randomId)).toEqual(['1', '2', '3', '5', '6']);
  });
});

describe('probe, latency and cost', () => {
  it('answers help.GetNearestDc with an Api.NearestDc', async () => {
    const client = simulatedClient(new TelegramSimulator(), 'acct');
    const dc = await client.invoke(new Api.help.GetNearestDc());
    expect(dc).toBeInstanceOf(Api.NearestDc);
    expect(dc).toMatchObject({ thisDc: 2, nearestDc: 2 });
  });

  it('spreads round trips uniformly over latencyMs', async () => {
    const clock = new ManualClock();
    const sim = new TelegramSimulator({ latencyMs: [50, 150], accountPerSecond: 1000, chatPerMinute: 1000 }, undefined, clock);
    const client = simulatedClient(sim, 'acct');
    const peer = await clock.run(inputPeer(client, 'latency_room'));
    await clock.run(Promise.all(Array.from({ length: 200 }, (_, i) => send(client, peer, String(i + 1)))));
    // From the request reaching the simulator to its answer: the simulated round trip alone.
    const sorted = sim.sends.map((s) => s.at - s.requestedAt).sort((x, y) => x - y);
    expect(sorted).toHaveLength(200);
    expect(sorted[0]).toBeGreaterThanOrEqual(50);
    expect(sorted[199]).toBeLessThanOrEqual(150);
    // Uniform: the median near the middle, the quartiles about 50 ms apart.
    expect(sorted[100]).toBeGreaterThan(85);
    expect(sorted[100]).toBeLessThan(115);
    expect(sorted[150]! - sorted[50]!).toBeGreaterThan(35);
    expect(sorted[150]! - sorted[50]!).toBeLessThan(65);
  });

  it('costs little CPU per send at about 2,000 sends/s over 100 accounts', async () => {
    const sim = new TelegramSimulator({ latencyMs: [50, 150], accountPerSecond: 100, chatPerMinute: 1000 });
    const clients = Array.from({ length: 100 }, (_, i) => simulatedClient(sim, `acct-${i}`));
    const peers = await Promise.all(clients.map((c, i) => inputPeer(c, `cost_room_${i}`)));
    const perTick = 20; // every 10 ms: 2,000/s
    const ticks = 200;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const inFlight: Array<Promise<number>> = [];
    for (let t = 0; t < ticks; t++) {
      for (let k = 0; k < perTick; k++) {
        const n = t * perTick + k;
        inFlight.push(send(clients[n % 100]!, peers[n % 100]!, String(n + 1)));
      }
      await sleep(10);
    }
    await Promise.all(inFlight);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const msPerSend = (cpu.user + cpu.system) / 1000 / inFlight.length;
    console.log(
      `simulator + GramJS client: ${inFlight.length} sends in ${wallMs.toFixed(0)} ms, ${msPerSend.toFixed(3)} ms CPU per send`,
    );
    expect(sim.sends).toHaveLength(ticks * perTick);
    // GramJS builds and serialises each request (as in production) and the simulator builds the
    // answer; a send costing over 0.25 ms would take half a core at 2,000/s in the bench.
    expect(msPerSend).toBeLessThan(0.25);
  });
});

describe('limits count the sends they admit', () => {
  /** A store that answers a few milliseconds later, as the Postgres store does. */
  class SlowStore extends MemoryMessageStore {
    override async post(...args: Parameters<MemoryMessageStore['post']>) {
      await sleep(5);
      return await super.post(...args);
    }
  }

  it('PEER_FLOOD after 10 sends lets exactly 10 of 20 concurrent sends through', async () => {
    const sim = new TelegramSimulator({ latencyMs: [0, 0], peerFloodAfter: 10, accountPerSecond: 10_000 }, new SlowStore());
    const client = simulatedClient(sim, 'acct');
    const peer = await inputPeer(client, 'busy_room');
    const answers = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => send(client, peer, String(1000 + i))));
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(10);
    expect(answers.filter((a) => a.status === 'rejected').map((a) => (a as PromiseRejectedResult).reason.errorMessage))
      .toEqual(Array(10).fill('PEER_FLOOD'));
    expect((await sim.countsByPeer()).get('@busy_room')).toBe(10);
  });
});
