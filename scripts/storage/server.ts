// A local stand-in for Supabase Storage (the real server needs Docker), serving the part of its
// API that supabase-js's `storage.from(bucket)` uses for this product, under /storage/v1:
//  - upload and update: POST / PUT /object/<bucket>/<path> (multipart from a Blob or File, or a
//    raw body with its content type; x-upsert), answering { Id, Key };
//  - download: GET /object/<bucket>/<path> and /object/authenticated/<bucket>/<path>;
//  - info: GET /object/info/<bucket>/<path>; remove: DELETE /object/<bucket> { prefixes }.
// The token (Authorization: Bearer, the user's JWT or the service role key) is checked like the
// Realtime stand-in's; every object row is read and written in Postgres as that role with its
// claims, so the RLS policies on storage.objects decide; the bucket's size limit and content
// types apply. Files live under `dir`, one per object id.
// Not emulated: buckets' API, listing, signed URLs, moves and copies, image transformations,
// resumable (TUS) and S3 uploads, public buckets' unauthenticated URLs.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { type TokenKeys, tokenVerifier } from '../realtime/tokens.ts';
import { deleteObjects, findObject, type ObjectRow, putObject, StorageDatabase } from './database.ts';

export const STORAGE_PREFIX = '/storage/v1';
/** Storage's global upload limit on the free plan; a bucket may set less. */
const MAX_BYTES = 50 * 1024 * 1024;

export interface StorageOptions extends TokenKeys {
  /** A database URL as the Storage server has it: reads buckets, may set role to the API roles. */
  dbUrl: string;
  /** Where the files are kept (the stack's data directory). */
  dir: string;
  log?: (line: string) => void;
}

export interface Storage {
  /** Answers the request if it is under STORAGE_PREFIX (returns false otherwise). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): Promise<void>;
}

/** Storage's error shape: HTTP status and { statusCode, error, message }. */
class StorageError extends Error {
  readonly status: number;
  readonly error: string;
  readonly statusCode: string;
  constructor(status: number, error: string, message: string, statusCode = String(status)) {
    super(message);
    this.status = status;
    this.error = error;
    this.statusCode = statusCode;
  }
}

export async function createStorage(opts: StorageOptions): Promise<Storage> {
  const log = opts.log ?? (() => {});
  const verify = tokenVerifier(opts);
  const db = new StorageDatabase(opts.dbUrl, log);
  await mkdir(join(opts.dir, 'objects'), { recursive: true });
  const ctx: Ctx = { db, dir: opts.dir };

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const v = await verify(token);
      if (!v.ok) throw new StorageError(400, 'Unauthorized', v.reason.replace(/^InvalidJWTToken: /, 'invalid JWT: '), '403');
      await route(ctx, req, res, v.claims as Record<string, unknown>);
    } catch (err) {
      const e = err instanceof StorageError ? err : toStorageError(err);
      if (e.status >= 500) log(`${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) sendJson(res, e.status, { statusCode: e.statusCode, error: e.error, message: e.message });
      else res.destroy();
    }
  };
  return {
    handle(req, res) {
      if (!req.url?.startsWith(`${STORAGE_PREFIX}/`)) return false;
      // Browser apps upload from their own origin, as to a hosted project.
      res.setHeader('access-control-allow-origin', '*');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, HEAD, POST, PUT, DELETE',
          'access-control-allow-headers':
            'authorization, apikey, content-type, x-client-info, x-upsert, cache-control, x-metadata',
        });
        res.end();
        return true;
      }
      void serve(req, res);
      return true;
    },
    close: () => db.close(),
  };
}

interface Ctx {
  db: StorageDatabase;
  dir: string;
}

async function route(ctx: Ctx, req: IncomingMessage, res: ServerResponse, claims: Record<string, unknown>): Promise<void> {
  const url = new URL(req.url!, 'http://local');
  const parts = url.pathname.slice(STORAGE_PREFIX.length + 1).split('/').map(decodeURIComponent);
  if (parts[0] !== 'object') {
    throw new StorageError(404, 'not_found', 'the local Storage stand-in serves /storage/v1/object/* only');
  }
  const rest = parts.slice(1);
  if (req.method === 'GET' && rest[0] === 'info') return info(ctx, res, claims, rest.slice(1));
  if (req.method === 'GET' || req.method === 'HEAD') {
    return download(ctx, req, res, claims, rest[0] === 'authenticated' ? rest.slice(1) : rest);
  }
  if (req.method === 'DELETE' && rest.length === 1) return remove(ctx, req, res, claims, rest[0]!);
  if (req.method === 'POST' || req.method === 'PUT') return upload(ctx, req, res, claims, rest);
  throw new StorageError(405, 'method_not_allowed', `${req.method} is not served here`);
}

/** bucket and object name from the path's segments. */
function objectPath(segments: string[]): { bucket: string; name: string } {
  const [bucket, ...name] = segments;
  if (!bucket || !name.length || name.some((s) => !s)) {
    throw new StorageError(400, 'invalid_key', 'give a bucket and an object path');
  }
  return { bucket, name: name.join('/') };
}

async function upload(
  ctx: Ctx,
  req: IncomingMessage,
  res: ServerResponse,
  claims: Record<string, unknown>,
  segments: string[],
): Promise<void> {
  const { bucket, name } = objectPath(segments);
  const b = await ctx.db.bucket(bucket);
  if (!b) throw new StorageError(404, 'Bucket not found', 'Bucket not found');
  const limit = Math.min(MAX_BYTES, Number(b.file_size_limit ?? MAX_BYTES));
  const file = await readFile(req, limit);
  if (b.allowed_mime_types?.length && !b.allowed_mime_types.includes(file.type)) {
    throw new StorageError(415, 'invalid_mime_type', `mime type ${file.type} is not supported`);
  }
  const tmp = join(ctx.dir, 'objects', `.${randomUUID()}`);
  await writeFile(tmp, file.bytes);
  const metadata = {
    eTag: `"${randomUUID()}"`,
    size: file.bytes.length,
    mimetype: file.type,
    cacheControl: file.cacheControl,
    lastModified: new Date().toISOString(),
    contentLength: file.bytes.length,
    httpStatusCode: 200,
  };
  try {
    const row = await ctx.db.as(claims, async (c) => {
      const r = await putObject(c, {
        bucket,
        name,
        owner: typeof claims.sub === 'string' ? claims.sub : null,
        metadata,
        upsert: req.method === 'PUT' || req.headers['x-upsert'] === 'true',
      });
      // Renamed before the commit: a row never points at a file that is not there.
      await rename(tmp, join(ctx.dir, 'objects', r.id));
      return r;
    });
    sendJson(res, 200, { Id: row.id, Key: `${bucket}/${name}` });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The uploaded file: the multipart part of a Blob/File upload, or the raw body. */
async function readFile(req: IncomingMessage, limit: number): Promise<{ bytes: Buffer; type: string; cacheControl: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit + 64 * 1024) {
      throw new StorageError(413, 'Payload too large', 'The object exceeded the maximum allowed size');
    }
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const type = req.headers['content-type'] ?? 'application/octet-stream';
  let out = { bytes: body, type, cacheControl: String(req.headers['cache-control'] ?? 'no-cache') };
  if (type.startsWith('multipart/form-data')) {
    const form = await new Request('http://local', { method: 'POST', headers: { 'content-type': type }, body }).formData();
    const part = [...form.values()].find((v): v is File => typeof v !== 'string');
    if (!part) throw new StorageError(400, 'invalid_request', 'the form has no file');
    const maxAge = form.get('cacheControl');
    out = {
      bytes: Buffer.from(await part.arrayBuffer()),
      type: part.type || 'application/octet-stream',
      cacheControl: `max-age=${maxAge ?? 3600}`,
    };
  }
  if (out.bytes.length > limit) throw new StorageError(413, 'Payload too large', 'The object exceeded the maximum allowed size');
  return out;
}

async function visible(ctx: Ctx, claims: Record<string, unknown>, segments: string[]): Promise<ObjectRow> {
  const { bucket, name } = objectPath(segments);
  // Another user's object is as missing as one that does not exist: the policies hide it.
  const row = await ctx.db.as(claims, (c) => findObject(c, bucket, name));
  if (!row) throw new StorageError(404, 'not_found', 'Object not found', '404');
  return row;
}

async function download(
  ctx: Ctx,
  req: IncomingMessage,
  res: ServerResponse,
  claims: Record<string, unknown>,
  segments: string[],
): Promise<void> {
  const row = await visible(ctx, claims, segments);
  const meta = row.metadata ?? {};
  res.writeHead(200, {
    'content-type': String(meta.mimetype ?? 'application/octet-stream'),
    'content-length': String(meta.size ?? 0),
    'cache-control': String(meta.cacheControl ?? 'no-cache'),
    etag: String(meta.eTag ?? ''),
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(join(ctx.dir, 'objects', row.id)).on('error', () => res.destroy()).pipe(res);
}

async function info(ctx: Ctx, res: ServerResponse, claims: Record<string, unknown>, segments: string[]): Promise<void> {
  const row = await visible(ctx, claims, segments);
  const meta = row.metadata ?? {};
  sendJson(res, 200, {
    id: row.id,
    name: row.name,
    bucket_id: row.bucket_id,
    version: row.version,
    size: meta.size ?? null,
    content_type: meta.mimetype ?? null,
    cache_control: meta.cacheControl ?? null,
    etag: meta.eTag ?? null,
    metadata: null,
    last_modified: row.updated_at,
    created_at: row.created_at,
  });
}

async function remove(
  ctx: Ctx,
  req: IncomingMessage,
  res: ServerResponse,
  claims: Record<string, unknown>,
  bucket: string,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let prefixes: unknown;
  try {
    prefixes = (JSON.parse(Buffer.concat(chunks).toString() || '{}') as { prefixes?: unknown }).prefixes;
  } catch {
    throw new StorageError(400, 'invalid_request', 'the body must be JSON { "prefixes": [...] }');
  }
  if (!Array.isArray(prefixes) || !prefixes.every((p) => typeof p === 'string')) {
    throw new StorageError(400, 'invalid_request', 'prefixes must be an array of object paths');
  }
  const rows = await ctx.db.as(claims, (c) => deleteObjects(c, bucket, prefixes as string[]));
  await Promise.all(rows.map((r) => rm(join(ctx.dir, 'objects', r.id), { force: true })));
  sendJson(res, 200, rows);
}

function toStorageError(err: unknown): StorageError {
  const code = (err as { code?: string }).code;
  // What Storage answers when a policy refuses the row (HTTP 400, statusCode 403).
  if (code === '42501') return new StorageError(400, 'Unauthorized', 'new row violates row-level security policy', '403');
  if (code === '23505') return new StorageError(409, 'Duplicate', 'The resource already exists', '409');
  return new StorageError(500, 'internal', 'internal error');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
