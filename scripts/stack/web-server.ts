// Serves the watch page (scripts/web/) on the local stack. It proxies /functions/v1/* to the
// functions router so the page is same-origin (no CORS setup between two local ports), and
// offers /local/config.json with the demo token: this server only listens on 127.0.0.1 and
// exists only in the local stack, where stack.json holds the same token anyway.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB_ROOT = fileURLToPath(new URL('../web/', import.meta.url));
const SUPABASE_JS = fileURLToPath(new URL('../../node_modules/@supabase/supabase-js/dist/umd/supabase.js', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};

export interface WebServerOptions {
  port: number;
  functionsOrigin: string; // http://127.0.0.1:54321
  /** apiUrl: the stack's API URL, where the page's supabase-js client calls functions and Realtime. */
  config: { demoToken: string; demoUserId: string; anonKey: string; apiUrl?: string };
}

async function body(req: IncomingMessage): Promise<Buffer | undefined> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startWebServer(opts: WebServerOptions): Promise<{ url: string; stop(): Promise<void> }> {
  let hosts: Set<string> = new Set();
  const server: Server = createServer(async (req, res) => {
    // DNS rebinding: a page on evil.example whose name later resolves to 127.0.0.1 reaches this
    // port with its own Host header and could read the demo token. Only our own names are served.
    if (!hosts.has((req.headers.host ?? '').toLowerCase())) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('misdirected request: use http://127.0.0.1 or http://localhost');
      return;
    }
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname.startsWith('/functions/v1/')) {
        const headers = new Headers();
        for (const h of ['authorization', 'content-type', 'apikey', 'x-client-info']) {
          const v = req.headers[h];
          if (typeof v === 'string') headers.set(h, v);
        }
        const upstream = await fetch(`${opts.functionsOrigin}${url.pathname}${url.search}`, {
          method: req.method,
          headers,
          body: await body(req),
        });
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
        res.end(Buffer.from(await upstream.arrayBuffer()));
        return;
      }
      if (url.pathname === '/vendor/supabase.js') {
        // supabase-js's browser build from node_modules: served by the project, no CDN.
        res.writeHead(200, { 'content-type': TYPES['.js']!, 'cache-control': 'no-store' });
        res.end(await readFile(SUPABASE_JS));
        return;
      }
      if (url.pathname === '/local/config.json') {
        res.writeHead(200, { 'content-type': TYPES['.json']!, 'cache-control': 'no-store' });
        res.end(JSON.stringify({ functionsUrl: '/functions/v1', ...opts.config }));
        return;
      }
      let rel: string;
      try {
        rel = url.pathname === '/' ? 'index.html' : normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, '');
      } catch {
        rel = '..'; // malformed %-escape: not a file of ours
      }
      // deno-lint-ignore no-control-regex -- control characters in a path are refused
      if (rel.split(/[/\\]/).includes('..') || rel.endsWith('.test.ts') || /[\u0000-\u001f]/.test(rel)) {
        res.writeHead(404).end();
        return;
      }
      const data = await readFile(join(WEB_ROOT, rel));
      res.writeHead(200, { 'content-type': TYPES[extname(rel)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(data);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Never echo a file system error (it names absolute paths): only the proxy's own failures.
      const missing = code === 'ENOENT' || code === 'EISDIR' || code === 'ERR_INVALID_ARG_VALUE' || code === 'ENAMETOOLONG';
      const proxy = err instanceof TypeError && 'cause' in err; // fetch to the functions router failed
      res.writeHead(missing ? 404 : proxy ? 502 : 500, { 'content-type': 'text/plain' });
      res.end(missing ? 'not found' : proxy ? 'proxy error: the functions router did not answer' : 'server error');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
