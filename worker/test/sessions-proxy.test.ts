// The sockets a proxied GramJS client connects with: the proxy's host is resolved and must be a
// public address unless private targets are allowed, and the connection goes to the address
// checked. A plain TCP server on loopback stands for the proxy and counts what reaches it.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gramjsProxy } from '../src/sessions/proxy.ts';

let server: Server;
let port: number;
let reached = 0;

beforeAll(async () => {
  server = createServer((s) => {
    reached++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Connects as GramJS does: a socket made with the client's proxy option, to a DC's address. */
function connect(options: ReturnType<typeof gramjsProxy>, ip: string): Promise<unknown> {
  const Sockets = options.networkSocket!;
  return new Sockets(options.proxy as never).connect(443, ip);
}

describe('proxied sockets', () => {
  it('refuse a SOCKS5 proxy or an MTProxy on a loopback or private address, before connecting', async () => {
    const socks = gramjsProxy({ type: 'socks5', host: '127.0.0.1', port }, false);
    await expect(connect(socks, '149.154.167.50')).rejects.toThrow(/127\.0\.0\.1, not a public address/);
    const byName = gramjsProxy({ type: 'socks5', host: 'localhost', port }, false);
    await expect(connect(byName, '149.154.167.50')).rejects.toThrow(/not a public address/);
    // MTProxy: GramJS connects to the proxy itself, so the address asked for is the proxy's.
    const mtproxy = gramjsProxy({ type: 'mtproxy', host: '10.1.2.3', port, secret: '0123456789abcdef0123456789abcdef' }, false);
    await expect(connect(mtproxy, '10.1.2.3')).rejects.toThrow(/10\.1\.2\.3, not a public address/);
    expect(reached).toBe(0);
  });

  it('connect to a private proxy when allowed (local development and tests)', async () => {
    const socks = gramjsProxy({ type: 'socks5', host: 'localhost', port }, true);
    // Not a SOCKS5 server: the handshake fails, after the connection reached it.
    await expect(connect(socks, '149.154.167.50')).rejects.toThrow(/through the account's proxy/);
    expect(reached).toBe(1);
  });
});
