// A loopback stand-in for the part of Supabase's Management API that `supabase functions deploy
// --use-api` talks to (CLI 2.117): list functions, one multipart upload per function, the bulk
// update that follows. It keeps every upload (metadata and files) for the deploy check to inspect.
import { createServer, type IncomingMessage } from 'node:http';

export interface Upload {
  slug: string;
  /** The multipart `metadata` field, as the CLI sent it (entrypoint_path, import_map_path, ...). */
  metadata: Record<string, unknown>;
  /** Uploaded file name (a path relative to the project, as the CLI names it) → contents. */
  files: Map<string, string>;
}

export interface ManagementApi {
  url: string;
  uploads: Upload[];
  /** "METHOD /path" of every request, in order (what the CLI asked for). */
  requests: string[];
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const fnJson = (slug: string, extra: Record<string, unknown> = {}) => ({
  id: `00000000-0000-4000-8000-${slug.padEnd(12, '0').slice(0, 12).replace(/[^0-9a-f]/g, '0')}`,
  slug,
  name: slug,
  status: 'ACTIVE',
  version: 1,
  created_at: Date.now(),
  updated_at: Date.now(),
  verify_jwt: true,
  ...extra,
});

export async function startManagementApi(): Promise<ManagementApi> {
  const uploads: Upload[] = [];
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const body = await readBody(req);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    try {
      if (req.method === 'GET' && /^\/v1\/projects\/[^/]+\/functions$/.test(url.pathname)) return json(200, []);
      if (req.method === 'POST' && /^\/v1\/projects\/[^/]+\/functions\/deploy$/.test(url.pathname)) {
        // Node's fetch Request parses multipart/form-data like the real API does.
        const form = await new Request('http://x/', {
          method: 'POST',
          headers: { 'content-type': String(req.headers['content-type']) },
          body,
        }).formData();
        const metadata = JSON.parse(String(form.get('metadata') ?? '{}')) as Record<string, unknown>;
        const files = new Map<string, string>();
        for (const f of form.getAll('file')) {
          if (typeof f !== 'string') files.set(f.name, await f.text());
        }
        const slug = url.searchParams.get('slug') ?? String(metadata.name);
        uploads.push({ slug, metadata, files });
        return json(201, fnJson(slug, { entrypoint_path: metadata.entrypoint_path, import_map_path: metadata.import_map_path }));
      }
      if (req.method === 'PUT' && /^\/v1\/projects\/[^/]+\/functions$/.test(url.pathname)) {
        const list = JSON.parse(body.toString() || '[]') as Array<{ slug: string }>;
        return json(200, { functions: list.map((f) => fnJson(f.slug)) });
      }
      json(404, { message: `the stand-in Management API has no ${req.method} ${url.pathname}` });
    } catch (err) {
      json(500, { message: String(err) });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
