// Proxies on loopback in front of the stand-in, for tests of accounts that connect through one:
// a SOCKS5 server (RFC 1928, with the username/password method of RFC 1929) and an MTProxy (the
// obfuscated transport keyed with the proxy's secret, core.telegram.org/mtproto/mtproto-transports
// "Transport obfuscation"; the DC id in the header names where to go). Each counts the connections
// it carried and their bytes; close() ends them all, as a proxy that went away.
import { createDecipheriv, createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TestProxy {
  port: number;
  /** Connections carried to a destination so far. */
  connections: number;
  /** Bytes carried each way, both directions summed. */
  bytes: number;
  /** Connections refused (wrong credentials or secret). */
  refused: number;
  close(): Promise<void>;
}

/** Reads exact byte counts from a socket; what follows the handshake is handed on. */
function reader(socket: Socket) {
  let buf = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  };
  socket.on('data', onData);
  socket.on('close', () => wake?.());
  return {
    async take(n: number): Promise<Buffer> {
      while (buf.length < n) {
        if (socket.destroyed) throw new Error('closed during the handshake');
        await new Promise<void>((r) => (wake = r));
      }
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      return out;
    },
    /** Stops reading here: the bytes already received and not taken. */
    rest(): Buffer {
      socket.off('data', onData);
      return buf;
    },
  };
}

function serve(handle: (client: Socket, p: TestProxy) => Promise<void>): Promise<TestProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => {});
    handle(client, proxy).catch(() => client.destroy());
  });
  const proxy: TestProxy = {
    port: 0,
    connections: 0,
    bytes: 0,
    refused: 0,
    close: () =>
      new Promise((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      proxy.port = (server.address() as { port: number }).port;
      resolve(proxy);
    })
  );
}

/** Joins two sockets, counting what passes; `up`/`down` transform each way. */
function pipe(
  p: TestProxy,
  client: Socket,
  upstream: Socket,
  first: Buffer,
  up = (b: Buffer) => b,
  down = up,
) {
  p.connections++;
  const count = (b: Buffer) => (p.bytes += b.length, b);
  if (first.length) upstream.write(up(count(first)));
  client.on('data', (d: Buffer) => upstream.write(up(count(d))));
  upstream.on('data', (d: Buffer) => client.write(down(count(d))));
  upstream.on('error', () => client.destroy());
  upstream.on('close', () => client.destroy());
  client.on('close', () => upstream.destroy());
}

/** A SOCKS5 server; with credentials, only the username/password method is offered. */
export function startSocks5(auth?: { username: string; password: string }): Promise<TestProxy> {
  return serve(async (client, p) => {
    const r = reader(client);
    const [, n] = await r.take(2);
    const methods = await r.take(n!);
    const method = auth ? 0x02 : 0x00;
    if (!methods.includes(method)) return void client.end(Buffer.from([5, 0xff]), () => p.refused++);
    client.write(Buffer.from([5, method]));
    if (auth) {
      const [, ulen] = await r.take(2);
      const user = (await r.take(ulen!)).toString();
      const password = (await r.take((await r.take(1))[0]!)).toString();
      const ok = user === auth.username && password === auth.password;
      client.write(Buffer.from([1, ok ? 0 : 1]));
      if (!ok) return void (p.refused++, client.end());
    }
    const [, cmd, , atyp] = await r.take(4);
    const host = atyp === 1
      ? [...(await r.take(4))].join('.')
      : atyp === 3
      ? (await r.take((await r.take(1))[0]!)).toString()
      : (await r.take(16)).toString('hex').replace(/(.{4})(?!$)/g, '$1:');
    const port = (await r.take(2)).readUInt16BE(0);
    if (cmd !== 1) return void client.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]));
    const upstream = connect(port, host, () => {
      client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
      pipe(p, client, upstream, r.rest());
    });
    upstream.once('error', () => client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
  });
}

/**
 * An MTProxy for a 16-byte secret: it opens the client's obfuscated header with keys derived from
 * the secret (SHA-256 of the header's key bytes and the secret), reads the transport's tag and the
 * DC id, and carries the connection to that DC of `dcs`, starting it there in the plain transport
 * the client chose. A header made without the secret names no known transport: the connection is
 * closed and counted as refused.
 */
export function startMtproxy(secretHex: string, dcs: Array<{ id: number; host: string; port: number }>): Promise<TestProxy> {
  const secret = Buffer.from(secretHex.replace(/^dd/, ''), 'hex');
  const tags: Record<string, Buffer> = {
    efefefef: Buffer.from([0xef]),
    eeeeeeee: Buffer.from('eeeeeeee', 'hex'),
    dddddddd: Buffer.from('dddddddd', 'hex'),
  };
  return serve(async (client, p) => {
    const r = reader(client);
    const header = await r.take(64);
    const key = (k: Buffer) => createHash('sha256').update(k).update(secret).digest();
    const reversed = Buffer.from(header.subarray(8, 56)).reverse();
    const fromClient = createDecipheriv('aes-256-ctr', key(header.subarray(8, 40)), header.subarray(40, 56));
    const toClient = createDecipheriv('aes-256-ctr', key(reversed.subarray(0, 32)), reversed.subarray(32, 48));
    const plain = fromClient.update(header);
    const start = tags[plain.subarray(56, 60).toString('hex')];
    const dc = dcs.find((d) => d.id === Math.abs(plain.readInt16LE(60)));
    if (!start || !dc) return void (p.refused++, client.destroy());
    const upstream = connect(dc.port, dc.host, () => {
      upstream.write(start);
      pipe(p, client, upstream, r.rest(), (b) => fromClient.update(b), (b) => toClient.update(b));
    });
    upstream.once('error', () => client.destroy());
  });
}
