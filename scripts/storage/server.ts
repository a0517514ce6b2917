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
// Nothing is read from a body before the name, the token and the limits are checked: an upload
// first tests the caller's right to write the row (as hosted Storage does), then streams the body
// to a temporary file, refused as soon as it passes the bucket's limit or the user's quota; other
// bodies are capped at 1 MB. As on hosted Storage, the row's file facts (size, content type) are
// then written by the server itself, from the stored file.
// Not emulated: buckets' API, listing, signed URLs, moves and copies, image transformations,
// resumable (TUS) and S3 uploads, public buckets' unauthenticated URLs.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { objectNameProblem } from '../../contracts/object-name.ts';
import { type TokenKeys, tokenVerifier } from '../realtime/tokens.ts';
import { type Bucket, deleteObjects, findObject, type ObjectRow, StorageDatabase } from './database.ts';

export const STORAGE_PREFIX = '/storage/v1';
/** Storage's global upload limit on the free plan; a bucket may set less. */
const MAX_BYTES = 50 * 1024 * 1024;
/** A multipart form's own bytes around the file (boundaries, part headers, the cacheControl field). */
const FORM_OVERHEAD = 64 * 1024;
/** Any other body: a remove's { prefixes } (hosted Storage takes at most 1,000 names a request). */
const MAX_OTHER_BODY = 1024 * 1024;

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

const invalid = (what: string) => new StorageError(400, 'InvalidKey', `Invalid key: ${what}`);
const tooLarge = () => new StorageError(413, 'Payload too large', 'The object exceeded the maximum allowed size');

export async function createStorage(opts: StorageOptions): Promise<Storage> {
  const log = opts.log ?? (() => {});
  const verify = tokenVerifier(opts);
  const db = new StorageDatabase(opts.dbUrl, log);
  await mkdir(join(opts.dir, 'objects'), { recursive: true });
  const ctx: Ctx = { db, dir: opts.dir };

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      // The name and the token first: nothing of the body is read for a request that is refused.
      const target = parseTarget(req);
      const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const v = await verify(token);
      if (!v.ok) throw new StorageError(400, 'Unauthorized', v.reason.replace(/^InvalidJWTToken: /, 'invalid JWT: '), '403');
      await route(ctx, req, res, target, v.claims as Record<string, unknown>);
    } catch (err) {
      const e = err instanceof StorageError ? err : toStorageError(err);
      if (e.status >= 500) log(`${req.method} ${req.url}: ${(err as Error).message}`);
      // What is left of a refused body is discarded as it arrives, never kept.
      if (!req.complete) req.resume();
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

interface ObjectTarget {
  bucket: string;
  name: string;
}
type Target =
  | ({ op: 'info' | 'download' | 'upload' } & ObjectTarget)
  | { op: 'remove'; bucket: string };

/** What the request asks for, from its raw path (not normalised: a `..` stays a segment). */
function parseTarget(req: IncomingMessage): Target {
  const path = req.url!.split(/[?#]/)[0]!;
  const parts = path.slice(STORAGE_PREFIX.length + 1).split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw invalid('the path has a malformed percent-encoding');
    }
  });
  if (parts[0] !== 'object') {
    throw new StorageError(404, 'not_found', 'the local Storage stand-in serves /storage/v1/object/* only');
  }
  const rest = parts.slice(1);
  if (req.method === 'GET' && rest[0] === 'info') return { op: 'info', ...objectPath(rest.slice(1)) };
  if (req.method === 'GET' || req.method === 'HEAD') {
    return { op: 'download', ...objectPath(rest[0] === 'authenticated' ? rest.slice(1) : rest) };
  }
  if (req.method === 'DELETE' && rest.length === 1 && rest[0]) return { op: 'remove', bucket: rest[0] };
  if (req.method === 'POST' || req.method === 'PUT') return { op: 'upload', ...objectPath(rest) };
  throw new StorageError(405, 'method_not_allowed', `${req.method} is not served here`);
}

/** bucket and object name from the path's decoded segments (a segment may hold an encoded /). */
function objectPath(segments: string[]): ObjectTarget {
  const [bucket, ...name] = segments;
  if (!bucket || !name.length) throw new StorageError(400, 'invalid_key', 'give a bucket and an object path');
  const problem = objectNameProblem(name.join('/'));
  if (problem) throw invalid(`the object name ${problem}`);
  return { bucket, name: name.join('/') };
}

function route(ctx: Ctx, req: IncomingMessage, res: ServerResponse, t: Target, claims: Record<string, unknown>) {
  if (t.op === 'remove') return remove(ctx, req, res, claims, t.bucket);
  if (t.op === 'upload') return upload(ctx, req, res, claims, t);
  return t.op === 'info' ? info(ctx, res, claims, t) : download(ctx, req, res, claims, t);
}

async function upload(ctx: Ctx, req: IncomingMessage, res: ServerResponse, claims: Record<string, unknown>, t: ObjectTarget) {
  const b = await ctx.db.bucket(t.bucket);
  if (!b) throw new StorageError(404, 'Bucket not found', 'Bucket not found');
  const form = String(req.headers['content-type']).startsWith('multipart/form-data');
  if (!form) checkType(b, req.headers['content-type'] ?? 'application/octet-stream');
  const limit = await uploadLimit(ctx, b, t.name);
  if (Number(req.headers['content-length'] ?? 0) > limit.bytes + (form ? FORM_OVERHEAD : 0)) throw limit.refusal();
  const row = { ...t, owner: typeof claims.sub === 'string' ? claims.sub : null };
  const upsert = req.method === 'PUT' || req.headers['x-upsert'] === 'true';
  // May this caller write the row? Tested (and rolled back) before a byte of the body is read.
  await ctx.db.test(claims, (c) => ctx.db.claimRow(c, row, upsert));
  const tmp = join(ctx.dir, 'objects', `.${randomUUID()}`);
  try {
    const file = form ? await receiveForm(req, tmp, limit) : await receiveRaw(req, tmp, limit);
    checkType(b, file.type);
    const metadata = {
      eTag: `"${randomUUID()}"`,
      size: file.size,
      mimetype: file.type,
      cacheControl: file.cacheControl,
      lastModified: new Date().toISOString(),
      contentLength: file.size,
      httpStatusCode: 200,
    };
    const stored = await ctx.db.as(claims, async (c) => {
      const r = await ctx.db.claimRow(c, row, upsert);
      const done = await ctx.db.writeFacts(c, r.id, metadata, row.owner);
      // Renamed before the commit: a row never points at a file that is not there.
      await rename(tmp, join(ctx.dir, 'objects', r.id));
      return done;
    });
    sendJson(res, 200, { Id: stored.id, Key: `${t.bucket}/${t.name}` });
  } finally {
    await rm(tmp, { force: true });
  }
}

interface Limit {
  bytes: number;
  refusal: () => StorageError;
}

/** The bucket's size limit, or the uploader's quota left when that is less (read up front). */
async function uploadLimit(ctx: Ctx, b: Bucket, name: string): Promise<Limit> {
  const bucketLimit = Math.min(MAX_BYTES, Number(b.file_size_limit ?? MAX_BYTES));
  const left = await ctx.db.bytesLeft(b.id, name);
  if (left === null || left >= bucketLimit) return { bytes: bucketLimit, refusal: tooLarge };
  const over = () =>
    new StorageError(413, 'quota_exceeded', `quota exceeded: ${Math.max(0, left)} bytes left of your storage quota`);
  return { bytes: Math.max(0, left), refusal: over };
}

function checkType(b: Bucket, type: string): void {
  if (b.allowed_mime_types?.length && !b.allowed_mime_types.includes(type)) {
    throw new StorageError(415, 'invalid_mime_type', `mime type ${type} is not supported`);
  }
}

interface Received {
  size: number;
  type: string;
  cacheControl: string;
}

async function receiveRaw(req: IncomingMessage, file: string, limit: Limit): Promise<Received> {
  const size = await saveBody(req, file, limit.bytes, limit.refusal);
  return {
    size,
    type: req.headers['content-type'] ?? 'application/octet-stream',
    cacheControl: cacheControl(req.headers['cache-control'] ?? 'no-cache'),
  };
}

/** A Blob/File upload: the form goes to disk first, then its file part to `file`. */
async function receiveForm(req: IncomingMessage, file: string, limit: Limit): Promise<Received> {
  const raw = `${file}.form`;
  try {
    await saveBody(req, raw, limit.bytes + FORM_OVERHEAD, limit.refusal);
    // Parsed in memory, which the limits above bound.
    const form = await new Response(Readable.toWeb(createReadStream(raw)) as ReadableStream, {
      headers: { 'content-type': String(req.headers['content-type']) },
    }).formData().catch(() => {
      throw new StorageError(400, 'invalid_request', 'the multipart form is malformed');
    });
    const part = [...form.values()].find((v): v is File => typeof v !== 'string');
    if (!part) throw new StorageError(400, 'invalid_request', 'the form has no file');
    if (part.size > limit.bytes) throw limit.refusal();
    await writeFile(file, part.stream());
    const maxAge = form.get('cacheControl');
    return {
      size: (await stat(file)).size,
      type: part.type || 'application/octet-stream',
      cacheControl: cacheControl(`max-age=${typeof maxAge === 'string' ? maxAge : 3600}`),
    };
  } finally {
    await rm(raw, { force: true });
  }
}

/** Streams the body to `file`; past `max` bytes it stops reading and throws `refusal()`. */
async function saveBody(req: IncomingMessage, file: string, max: number, refusal: () => StorageError): Promise<number> {
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      done(size > max ? refusal() : null, chunk);
    },
  });
  // The request is not destroyed on a refusal: its answer still goes out on its socket.
  req.on('error', (err) => cap.destroy(err));
  await pipeline(req.pipe(cap), createWriteStream(file));
  return size;
}

/** A Cache-Control value that can be sent back as a header (no line breaks, no controls). */
function cacheControl(value: string): string {
  if (/[^\x20-\x7e]/.test(value)) {
    throw new StorageError(400, 'invalid_request', 'cacheControl must be printable ASCII (e.g. 3600)');
  }
  return value;
}

async function visible(ctx: Ctx, claims: Record<string, unknown>, t: ObjectTarget): Promise<ObjectRow> {
  // Another user's object is as missing as one that does not exist: the policies hide it.
  const row = await ctx.db.as(claims, (c) => findObject(c, t.bucket, t.name));
  if (!row) throw new StorageError(404, 'not_found', 'Object not found', '404');
  return row;
}

/** A stored fact as a header value; one that cannot be sent (written before the checks) is dropped. */
const header = (v: unknown, fallback: string) => {
  const s = v === undefined || v === null ? fallback : String(v);
  return /^[\x20-\x7e]*$/.test(s) ? s : fallback;
};

async function download(ctx: Ctx, req: IncomingMessage, res: ServerResponse, claims: Record<string, unknown>, t: ObjectTarget) {
  const row = await visible(ctx, claims, t);
  const meta = row.metadata ?? {};
  const file = join(ctx.dir, 'objects', row.id);
  // The stored file's length, whatever the row says.
  const size = await stat(file).then((s) => s.size, () => {
    throw new StorageError(404, 'not_found', 'Object not found', '404');
  });
  res.writeHead(200, {
    'content-type': header(meta.mimetype, 'application/octet-stream'),
    'content-length': String(size),
    'cache-control': header(meta.cacheControl, 'no-cache'),
    etag: header(meta.eTag, ''),
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

async function info(ctx: Ctx, res: ServerResponse, claims: Record<string, unknown>, t: ObjectTarget): Promise<void> {
  const row = await visible(ctx, claims, t);
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

async function remove(ctx: Ctx, req: IncomingMessage, res: ServerResponse, claims: Record<string, unknown>, bucket: string) {
  if (Number(req.headers['content-length'] ?? 0) > MAX_OTHER_BODY) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > MAX_OTHER_BODY) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
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
  const { code, message } = err as { code?: string; message?: string };
  // What Storage answers when a policy refuses the row (HTTP 400, statusCode 403).
  if (code === '42501') return new StorageError(400, 'Unauthorized', 'new row violates row-level security policy', '403');
  if (code === '23505') return new StorageError(409, 'Duplicate', 'The resource already exists', '409');
  // The database's own rules (migration 20261206100000): a name it refuses, the user's quota.
  if (code === 'PT400') return invalid(String(message));
  if (code === 'PT422') return new StorageError(413, 'quota_exceeded', String(message));
  return new StorageError(500, 'internal', 'internal error');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
