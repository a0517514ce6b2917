// The MTProto layer under faults, with real GramJS clients: dropped sockets, forgotten keys,
// every transport GramJS ships, and errors injected at the model for one target.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, type TelegramClient } from 'telegram';
import { ConnectionTCPAbridged, ConnectionTCPObfuscated } from 'telegram/network/index.js';
import { standInClient } from './client.ts';
import { startStandIn, type TelegramStandIn } from './mtproto/server.ts';
import { createChannel, history, post, rpcError, signedIn, testPhone } from './testing.ts';

let standIn: TelegramStandIn;
const clients: TelegramClient[] = [];
const track = (c: TelegramClient) => (clients.push(c), c);

beforeAll(async () => {
  standIn = await startStandIn();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  await standIn.close();
});

describe('MTProto transport and sessions (core.telegram.org/mtproto)', () => {
  it('GramJS reconnects after the server drops its socket, and a post made then is stored once', async () => {
    const client = track(await signedIn(standIn, testPhone(2)));
    const ch = await createChannel(client);
    standIn.dropConnections();
    await post(client, ch, 'after the drop');
    expect((await history(client, ch)).map((m) => m.message)).toEqual(['after the drop']);
    expect((await client.getMe()).self).toBe(true);
  });

  it.each([
    ['abridged', ConnectionTCPAbridged],
    ['obfuscated', ConnectionTCPObfuscated],
  ])('the %s transport carries the key exchange and calls (mtproto-transports)', async (_name, transport) => {
    const client = track(standInClient(standIn, { dcId: 1, transport }));
    await client.connect();
    const nearest = await client.invoke(new Api.help.GetNearestDc());
    expect(nearest.thisDc).toBe(1);
  });

  it('a packet under an auth key the DC does not know is answered with transport error -404, then the socket closes', async () => {
    // GramJS itself only reports such a key as broken (UpdateConnectionState.broken) and makes no new one,
    // so this speaks the abridged transport directly: 0xef, then a 10-word packet with an unknown key id.
    const dc = standIn.dcs[0]!;
    const socket = connect(dc.port, dc.host);
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(Buffer.concat([Buffer.from([0xef, 10]), randomBytes(40)]));
    await closed;
    const answer = Buffer.concat(received);
    expect(answer[0]).toBe(1);
    expect(answer.readInt32LE(1)).toBe(-404);
  });
});

describe('fault injection at the model', () => {
  it('an error injected for one target answers only calls to that target', async () => {
    const client = track(await signedIn(standIn, testPhone(2)));
    const faulty = await createChannel(client, { username: 'faulty_target' });
    const healthy = await createChannel(client, { username: 'healthy_target' });
    const remove = standIn.model.faults.add({
      method: 'messages.sendMessage',
      target: 'faulty_target',
      error: { code: 420, type: 'FLOOD_WAIT_30' },
    });
    expect(await rpcError(post(client, faulty, 'x'))).toBe('420 FloodWaitError(30)');
    await post(client, healthy, 'fine');
    remove();
    await post(client, faulty, 'after the fault');
    expect((await history(client, faulty)).map((m) => m.message)).toEqual(['after the fault']);
  });
});
