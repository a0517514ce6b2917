// The simulator's injected outage, as the fault suite checks it: a message's time is when
// Telegram accepted it (not when the stand-in got round to storing it), the outage is recorded
// with the messages, and no message is accepted inside it, however slow the store.
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { simulatedClient } from '../src/simulator/simulated-client.ts';
import { MemoryMessageStore } from '../src/simulator/store.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import { sleep } from '../../contracts/time.ts';

/** A store that takes `ms` to store each message (a busy database). */
class SlowStore extends MemoryMessageStore {
  readonly ms: number;
  constructor(ms: number) {
    super();
    this.ms = ms;
  }
  override async post(...args: Parameters<MemoryMessageStore['post']>) {
    await sleep(this.ms);
    return await super.post(...args);
  }
}

describe('injected outage', () => {
  it('messages accepted before the outage are timed before it, however slow storing them is', async () => {
    const store = new SlowStore(2_000);
    const sim = new TelegramSimulator({ unreachable: { afterSends: 1, forMs: 60_000 } }, store);
    const client = simulatedClient(sim, 'acct');
    const r = await client.invoke(new Api.contacts.ResolveUsername({ username: 'room' }));
    const chat = r.chats[0] as Api.Channel;
    const peer = new Api.InputPeerChannel({ channelId: chat.id, accessHash: chat.accessHash! });
    const send = (id: string) => client.invoke(new Api.messages.SendMessage({ peer, message: 'hi', randomId: returnBigInt(id) }));
    // Both are accepted before the first is stored (and the outage begins); a third comes after.
    const accepted = [send('1'), send('2')];
    await Promise.all(accepted);
    void send('3');
    await sleep(50);
    const [outage] = await store.outages();
    expect(outage).toBeDefined();
    const times = (await store.messages()).map((m) => m.at.getTime());
    expect(times).toHaveLength(2);
    for (const t of times) expect(t).toBeLessThanOrEqual(outage!.from.getTime());
    expect(sim.isUnreachable('acct')).toBe(true);
  });
});
