// A TCP proxy on loopback between a worker and Postgres, for the faults a network makes: it can
// stop forwarding some connections without closing them (a half-open path: a NAT or a proxy
// that forgot the flow; both ends believe the connection is up and hear nothing), or all of
// them, new ones included (Postgres unreachable). Connections are told apart by the
// application_name in their startup message (e.g. "tg-worker locks").
import { createServer, type Server, type Socket } from 'node:net';
import { connect } from 'node:net';

interface Flow {
  client: Socket;
  server: Socket;
  /** null until the startup message arrived. */
  app: string | null;
  frozen: boolean;
  openedAt: number;
}

export interface TcpProxy {
  port: number;
  /** The URL with host and port replaced by the proxy's. */
  url(databaseUrl: string): string;
  /** Stops forwarding the open connections whose application_name matches; returns how many. */
  freeze(app: (name: string) => boolean): number;
  /** Every connection from now on, and those open, forward nothing (off: new ones forward again). */
  blackhole(on: boolean): void;
  /** Connections accepted so far, oldest first. */
  flows(): Array<{ app: string; frozen: boolean; openedAt: number }>;
  close(): Promise<void>;
}

/** application_name from a Postgres StartupMessage (unencrypted), '' if there is none. */
function appName(startup: Buffer): string {
  const text = startup.toString('latin1');
  const at = text.indexOf('application_name\0');
  if (at < 0) return '';
  const from = at + 'application_name\0'.length;
  return text.slice(from, text.indexOf('\0', from));
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const flows: Flow[] = [];
  let hole = false;
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const flow: Flow = { client, server: upstream, app: null, frozen: hole, openedAt: Date.now() };
    flows.push(flow);
    client.on('data', (d) => {
      flow.app ??= appName(d);
      if (!flow.frozen) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!flow.frozen) client.write(d);
    });
    // A frozen path closes nothing: neither end learns that the other went away.
    const end = (other: Socket) => () => {
      if (!flow.frozen) other.destroy();
    };
    client.on('close', end(upstream));
    upstream.on('close', end(client));
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url(databaseUrl) {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    freeze(match) {
      const hit = flows.filter((f) => !f.frozen && !f.client.destroyed && match(f.app ?? ''));
      for (const f of hit) f.frozen = true;
      return hit.length;
    },
    blackhole(on) {
      hole = on;
      if (on) { for (const f of flows) f.frozen = true; }
    },
    flows: () => flows.map((f) => ({ app: f.app ?? '', frozen: f.frozen, openedAt: f.openedAt })),
    async close() {
      for (const f of flows) {
        f.client.destroy();
        f.server.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
