// The local stack's API URL (what `supabase status` calls "API URL"): one origin serving the
// functions at /functions/v1/* (proxied, streaming, to the Deno router), the Realtime stand-in at
// /realtime/v1/websocket and the Storage stand-in at /storage/v1/*, so `createClient(apiUrl,
// anonKey)` of supabase-js works for `functions.invoke`, `channel()` and `storage.from()`, as
// against a hosted project.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createRealtime, type Realtime, type RealtimeOptions } from '../realtime/server.ts';
import { createStorage, type Storage } from '../storage/server.ts';

/** Hop-by-hop headers describe one connection: a proxy never forwards them. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const endToEnd = (h: IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => !HOP_BY_HOP.has(k)));
/** The router's own bound on reading a body it refuses (supabase/functions/_shared/body.ts). */
const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

/**
 * Streams one request to the router and its answer back. The router may answer before it has read
 * the body (401, 413: it then closes its connection); the rest of the client's body is then read
 * and dropped here, so the client's connection stays whole. Closing a socket with unread bytes
 * resets it, and a reset kills whatever the client's keep-alive pool sent on it next.
 */
function proxy(upstream: URL, req: IncomingMessage, res: ServerResponse): void {
  let answered = false;
  const drain = () => {
    req.unpipe(up);
    up.destroy();
    let read = 0;
    req.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read > MAX_DRAIN_BYTES) req.socket.destroy();
    });
    req.resume();
  };
  const up = request({
    host: upstream.hostname,
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers: { ...endToEnd(req.headers), host: upstream.host },
  }, (r) => {
    answered = true;
    res.writeHead(r.statusCode ?? 502, endToEnd(r.headers));
    r.pipe(res);
    r.on('end', () => {
      if (!req.complete) drain();
    });
    // Cut mid-answer: end the client's response short rather than let it look complete.
    r.on('aborted', () => res.destroy());
  });
  up.on('error', (err) => {
    if (answered) return; // writing a body the router no longer reads: its answer is what counts
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'unavailable', message: `functions router: ${err.message}` } }));
    if (!req.complete) drain();
  });
  req.pipe(up);
}

export interface GatewayOptions {
  port: number;
  /** The Deno router, e.g. http://127.0.0.1:40123 */
  functionsOrigin: string;
  realtime: RealtimeOptions;
  /** Serve Storage, keeping files under this directory (same database and keys as Realtime). */
  storage?: { dir: string; log?: (line: string) => void };
}

export interface Gateway {
  apiUrl: string;
  stop(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const upstream = new URL(opts.functionsOrigin);
  const realtime: Realtime = await createRealtime(opts.realtime);
  const { dbUrl, jwtSecret, jwks } = opts.realtime;
  const storage: Storage | null = opts.storage ? await createStorage({ dbUrl, jwtSecret, jwks, ...opts.storage }) : null;
  const server: Server = createServer((req, res) => {
    if (storage?.handle(req, res)) return;
    if (!req.url?.startsWith('/functions/v1/') && req.url !== '/functions/v1') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { code: 'not_found', message: 'the local API serves /functions/v1/*, /storage/v1/* and /realtime/v1/websocket' },
        }),
      );
      return;
    }
    proxy(upstream, req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    if (!realtime.handleUpgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await realtime.close();
    await storage?.close();
    throw err;
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    apiUrl: `http://127.0.0.1:${port}`,
    async stop() {
      await realtime.close();
      await storage?.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
