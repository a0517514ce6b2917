// The MTProto layer under faults, with real GramJS clients: dropped sockets, forgotten keys,
// every transport GramJS ships, and errors injected at the model for one target.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import { ConnectionTCPAbridged, ConnectionTCPObfuscated } from 'telegram/network/index.js';
import { standInClient } from './client.ts';
import { createChannel, history, post, rpcError, signedIn, testPhone, useStandIn } from './testing.ts';

const { standIn, track } = useStandIn();

describe('MTProto transport and sessions (core.telegram.org/mtproto)', () => {
  it('GramJS reconnects after the server drops its socket, and a post made then is stored once', async () => {
    const client = track(await signedIn(standIn(), testPhone(2)));
    const ch = await createChannel(client);
    standIn().dropConnections();
    await post(client, ch, 'after the drop');
    expect((await history(client, ch)).map((m) => m.message)).toEqual(['after the drop']);
    expect((await client.getMe()).self).toBe(true);
  });

  it.each([
    ['abridged', ConnectionTCPAbridged],
    ['obfuscated', ConnectionTCPObfuscated],
  ])('the %s transport carries the key exchange and calls (mtproto-transports)', async (_name, transport) => {
    const client = track(standInClient(standIn(), { dcId: 1, transport }));
    await client.connect();
    const nearest = await client.invoke(new Api.help.GetNearestDc());
    expect(nearest.thisDc).toBe(1);
  });

  it.each([
    ['abridged', Buffer.from([0xef, 10]), (a: Buffer) => a[0] === 1 && a.readInt32LE(1)],
    ['intermediate', Buffer.from('eeeeeeee28000000', 'hex'), (a: Buffer) => a.readUInt32LE(0) === 4 && a.readInt32LE(4)],
  ])(
    'a packet under an unknown auth key gets transport error -404 in the %s transport, then the socket closes',
    async (_name, head, code) => {
      // GramJS itself only reports such a key as broken (UpdateConnectionState.broken) and makes no new
      // one, so the transport is spoken directly: its header, then a 40-byte packet with an unknown key id.
      const answer = await exchange(standIn().dcs[0]!, [Buffer.concat([head, randomBytes(40)])]);
      expect(code(answer)).toBe(-404);
    },
  );

  it('after the server changes salts, calls are answered: the client takes the new salt from bad_server_salt', async () => {
    const client = track(await signedIn(standIn(), testPhone(1)));
    standIn().rotateSalts();
    expect((await client.getMe()).self).toBe(true);
  });

  it('ping is answered with pong carrying its ping_id (service_messages)', async () => {
    const client = track(await signedIn(standIn(), testPhone(1)));
    const pong = await client._sender!.send(new Api.Ping({ pingId: returnBigInt(424242) }));
    expect((pong as Api.Pong).pingId.toString()).toBe('424242');
  });

  it('ping_delay_disconnect is answered with pong, and the server closes the connection when no ping follows in time', async () => {
    const client = track(await signedIn(standIn(), testPhone(1)));
    const before = standIn().connections(1);
    const ping = new Api.PingDelayDisconnect({ pingId: returnBigInt(7), disconnectDelay: 1 });
    expect(((await client._sender!.send(ping)) as Api.Pong).pingId.toString()).toBe('7');
    await until(() => standIn().connections(1) < before);
  });

  it('a DC that is down closes connections unanswered; back up, it serves clients again', async () => {
    const dc = standIn().dcs[2]!;
    standIn().setDown(dc.id, true);
    expect(await exchange(dc, [Buffer.concat([Buffer.from([0xef]), reqPq(1)])])).toHaveLength(0);
    standIn().setDown(dc.id, false);
    const client = track(standInClient(standIn(), { dcId: dc.id }));
    await client.connect();
    expect((await client.invoke(new Api.help.GetNearestDc())).thisDc).toBe(dc.id);
  });

  it('a connection made while a DC is half-open is never answered; one made after it recovers is', async () => {
    const dc = standIn().dcs[2]!;
    standIn().setHalfOpen(dc.id, true);
    const before = standIn().connections(dc.id);
    const silent = connect(dc.port, dc.host);
    const heard: Buffer[] = [];
    silent.on('data', (d) => heard.push(d));
    await write(silent, Buffer.concat([Buffer.from([0xef]), reqPq(1)]));
    await until(() => standIn().connections(dc.id) > before);
    standIn().setHalfOpen(dc.id, false);
    await write(silent, reqPq(2));
    const client = track(standInClient(standIn(), { dcId: dc.id }));
    await client.connect();
    expect((await client.invoke(new Api.help.GetNearestDc())).thisDc).toBe(dc.id);
    expect(heard).toHaveLength(0);
    silent.destroy();
  });
});

/** An abridged-framed unencrypted req_pq_multi (auth_key_id 0, msg_id, length, body). */
function reqPq(nonce: number): Buffer {
  const body = new Api.ReqPqMulti({ nonce: returnBigInt(nonce) }).getBytes();
  const head = Buffer.alloc(20);
  head.writeBigInt64LE(BigInt(Math.floor(Date.now() / 1000)) << 32n, 8);
  head.writeInt32LE(body.length, 16);
  return Buffer.concat([Buffer.from([(20 + body.length) / 4]), head, body]);
}

const write = (socket: Socket, data: Buffer) => new Promise((resolve) => socket.write(data, resolve));

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Writes `packets` on a new socket and returns everything received until the server closes it. */
async function exchange(dc: { host: string; port: number }, packets: Buffer[]): Promise<Buffer> {
  const socket = connect(dc.port, dc.host);
  const received: Buffer[] = [];
  socket.on('data', (d) => received.push(d));
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.on('close', resolve));
  for (const p of packets) socket.write(p);
  await closed;
  return Buffer.concat(received);
}

describe('fault injection at the model', () => {
  it('an error injected for one target answers only calls to that target', async () => {
    const client = track(await signedIn(standIn(), testPhone(2)));
    const faulty = await createChannel(client, { username: 'faulty_target' });
    const healthy = await createChannel(client, { username: 'healthy_target' });
    const remove = standIn().model.faults.add({
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
