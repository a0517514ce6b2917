// The GramJS adapter below TelegramClient.invoke: real request building, serialisation and
// RPC error mapping, answered by the simulator's stand-in sender.
import { describe, expect, it } from 'vitest';
import { Api, errors } from 'telegram';
import { classify, retryDelayMs } from '../src/errors.ts';
import { formatMessage } from '../src/gateway/format.ts';
import { GramJsGateway } from '../src/gateway/gramjs-gateway.ts';
import { AccountPacer } from '../src/pacing.ts';
import { simulatedClient } from '../src/simulator/simulated-client.ts';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';

const rpc = (code: number, message: string) =>
  errors.RPCMessageToError(new Api.RpcError({ errorCode: code, errorMessage: message }), new Api.updates.GetState());

describe('GramJS gateway on the simulated sender', () => {
  it('resolves, sends with the random_id, dedups a resend, keeps + invite links', async () => {
    const sim = new TelegramSimulator();
    const gw = new GramJsGateway(simulatedClient(sim, 'acct'), { connect: false });
    await gw.start();
    const peer = await gw.resolvePeer('@news_room');
    expect(peer.telegramId).toBe(TelegramSimulator.markedIdFor('@news_room'));
    expect(peer.accessHash).toMatch(/^-?\d+$/);
    const msg = {
      peer,
      text: 'join <a href="https://t.me/+AbCdEf123">here</a> <b>now</b>',
      parseMode: 'html' as const,
      silent: true,
      linkPreview: false,
      randomId: '-4242424242424242',
    };
    const a = await gw.send(msg);
    const b = await gw.send(msg);
    expect(b.messageId).toBe(a.messageId);
    expect((await sim.countsByPeer()).get('@news_room')).toBe(1);
    const invite = await gw.resolvePeer('+AbCdEf123');
    expect(invite.telegramId).toMatch(/^-100/);
  });

  it('a user account refuses a numeric channel id it holds no access hash for (core.telegram.org/api/peers: zero hash is for bots)', async () => {
    const gw = new GramJsGateway(simulatedClient(new TelegramSimulator(), 'acct'), { connect: false });
    await gw.start();
    const refused = await gw.resolvePeer('-1001234567890').catch((e: unknown) => e);
    expect(classify(refused)).toMatchObject({ kind: 'permanent', code: 'CHANNEL_INVALID' });
    // A basic group has no access hash: its id alone is the peer.
    expect(await gw.resolvePeer('-4242')).toEqual({ telegramId: '-4242', accessHash: null });
  });

  it('maps Telegram errors to GramJS classes through invoke, and fails closed on a revoked session', async () => {
    const sim = new TelegramSimulator({
      floodAfter: { sends: 0, seconds: 7 },
      targets: { '@closed': { error: 'CHAT_WRITE_FORBIDDEN', code: 403 } },
    });
    const gw = new GramJsGateway(simulatedClient(sim, 'acct'), { connect: false });
    const peer = await gw.resolvePeer('@closed');
    const send = () => gw.send({ peer, text: 'x', parseMode: 'plain', silent: false, linkPreview: true, randomId: '1' });
    const flood = await send().catch((e: unknown) => e);
    expect(flood).toBeInstanceOf(errors.FloodWaitError);
    expect(classify(flood)).toMatchObject({ kind: 'flood_wait', seconds: 7 });
    const sim2 = new TelegramSimulator({ targets: { '@closed': { error: 'CHAT_WRITE_FORBIDDEN', code: 403 } } });
    const gw2 = new GramJsGateway(simulatedClient(sim2, 'acct'), { connect: false });
    const e = await gw2.send({ peer, text: 'x', parseMode: 'plain', silent: false, linkPreview: true, randomId: '1' }).catch((
      x: unknown,
    ) => x);
    expect(classify(e)).toMatchObject({ kind: 'permanent', code: 'CHAT_WRITE_FORBIDDEN' });
    const sim3 = new TelegramSimulator({ revokedAccounts: ['acct'] });
    const refused = await new GramJsGateway(simulatedClient(sim3, 'acct'), { connect: false }).start().catch((x: unknown) => x);
    expect(classify(refused)).toMatchObject({ kind: 'account', status: 'revoked', code: 'AUTH_KEY_UNREGISTERED' });
  });
});

describe('classification', () => {
  it('maps each Telegram error to its action (worker/README.md, Telegram limits)', () => {
    expect(classify(rpc(420, 'FLOOD_WAIT_30'))).toMatchObject({ kind: 'flood_wait', seconds: 30, code: 'FLOOD_WAIT_30' });
    expect(classify(rpc(420, 'SLOWMODE_WAIT_10'))).toMatchObject({ kind: 'slowmode', seconds: 10 });
    expect(classify(rpc(400, 'PEER_FLOOD'))).toMatchObject({ kind: 'account', status: 'limited' });
    expect(classify(rpc(401, 'AUTH_KEY_UNREGISTERED'))).toMatchObject({ kind: 'account', status: 'revoked' });
    expect(classify(rpc(401, 'SESSION_REVOKED'))).toMatchObject({ kind: 'account', status: 'revoked' });
    expect(classify(rpc(500, 'INTERNAL'))).toMatchObject({ kind: 'transient' });
    expect(classify(rpc(-503, 'Timeout'))).toMatchObject({ kind: 'transient' });
    expect(classify(new Error('Disconnect'))).toMatchObject({ kind: 'transient', code: 'NETWORK' });
    for (
      const m of ['CHAT_WRITE_FORBIDDEN', 'CHANNEL_PRIVATE', 'USER_BANNED_IN_CHANNEL', 'PEER_ID_INVALID', 'USERNAME_NOT_OCCUPIED']
    ) {
      expect(classify(rpc(400, m))).toMatchObject({ kind: 'permanent', code: m });
    }
  });

  it('retries at 5/10/20 s with at most 10 % jitter, then gives up', () => {
    expect([1, 2, 3].map((n) => retryDelayMs(n, 5, 0.1, () => 0))).toEqual([5000, 10000, 20000]);
    expect([1, 2, 3].map((n) => retryDelayMs(n, 5, 0.1, () => 0.999))).toEqual([5500, 10999, 21998]);
    expect(retryDelayMs(4, 5, 0.1)).toBeNull();
  });
});

describe('formatting', () => {
  it('parses HTML and Markdown into entities without dropping + links', () => {
    const h = formatMessage('a <b>b</b> <a href="https://t.me/+Invite123">join</a>', 'html');
    expect(h.message).toBe('a b join');
    expect(h.entities.map((e) => e.className)).toEqual(['MessageEntityBold', 'MessageEntityTextUrl']);
    expect((h.entities[1] as Api.MessageEntityTextUrl).url).toBe('https://t.me/+Invite123');
    const m = formatMessage('**hi** <x> & [join](https://t.me/+Invite123) `a*b*`', 'markdown');
    expect(m.message).toBe('hi <x> & join a*b*');
    expect(m.entities.map((e) => e.className)).toEqual(['MessageEntityBold', 'MessageEntityTextUrl', 'MessageEntityCode']);
    expect(formatMessage('<b>x</b>', 'plain')).toEqual({ message: '<b>x</b>', entities: [] });
  });
});

describe('pacer', () => {
  it('spaces slots at the rate, caps a campaign on its own, and blocks until a FLOOD_WAIT ends', () => {
    let now = 1_000_000; // the test's clock: the pacer reads no other
    const p = new AccountPacer(600, () => now); // 100 ms apart
    // Taken as soon as they come: each slot is 100 ms after the previous one.
    const slots: number[] = [];
    for (let i = 0; i < 5; i++) {
      now = p.slotAt('c', null);
      slots.push(p.take('c', null));
    }
    expect(slots.map((t) => t - 1_000_000)).toEqual([0, 100, 200, 300, 400]);
    // A campaign capped at 60/min waits a second after its send; another campaign only the account's 100 ms.
    now = p.slotAt('capped', 60);
    p.take('capped', 60);
    expect(p.slotAt('capped', 60) - now).toBe(1000);
    expect(p.slotAt('other', null) - now).toBe(100);
    p.block(now + 1000);
    expect(p.slotAt('other', null) - now).toBe(1000);
    expect(p.blockedUntil).toBe(now + 1000);
    now += 1000;
    expect(p.blockedUntil).toBe(0);
  });
});
