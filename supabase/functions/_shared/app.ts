// A function = the routes of contracts/api/routes.ts for one resource + a handler per operation.
// This module does everything around the handler, in this order: CORS preflight, route match
// (404/405), auth (401), body size (413), JSON (400), zod validation (422), then one database
// transaction as the caller (and what the handler left for after its commit), and a check of the
// answer against the contract. Auth comes before the body: a caller without a valid token gets
// 401 without the server reading what they send.
import { type Context, Hono } from 'hono';
import type { z } from 'zod';
import { buildOpenApiDocument } from '../../../contracts/api/openapi.ts';
import {
  type FunctionName,
  type OperationId,
  operationsOf,
  type ParsedInput,
  type ResponseBody,
  type Routes,
  routes,
  type RouteSpec,
} from '../../../contracts/api/routes.ts';
import { authenticate, type UserClaims } from './auth.ts';
import { parseJson, readBodyBytes } from './body.ts';
import { corsHeaders, preflight, withCors } from './cors.ts';
import { asUser, type Tx } from './db.ts';
import { ApiError, errorResponse, fromZod, jsonResponse } from './errors.ts';

export type HandlerInput<K extends OperationId> = ParsedInput<K> & { tx: Tx; claims: UserClaims };
/** What a handler answers: the JSON body, or the whole Response of a route that `produces` another type (streamed). */
type Answer<K extends OperationId> = Routes[K] extends { produces: string } ? Response : ResponseBody<K>;
export type Handler<K extends OperationId> = (
  input: HandlerInput<K>,
) => Promise<Answer<K> | AfterCommit<Answer<K>>>;

/**
 * A handler's answer that needs its transaction committed first (what it queued becomes visible
 * to the worker) and may take a while: `run` is called after the commit, holding no connection.
 */
export class AfterCommit<T> {
  constructor(readonly run: () => Promise<T>) {}
}
export type HandlersOf<F extends FunctionName> = {
  [K in OperationId as Routes[K]['fn'] extends F ? K : never]: Handler<K>;
};

export interface EdgeFunction {
  fetch(req: Request): Promise<Response>;
}

/** Locally the router passes /functions/v1/<name>/...; on Supabase the path starts at /<name>. */
const PREFIX = '/functions/v1';
const pathOf = (req: Request) => {
  let p = new URL(req.url).pathname;
  if (p === PREFIX || p.startsWith(`${PREFIX}/`)) p = p.slice(PREFIX.length);
  return p.length > 1 ? p.replace(/\/+$/, '') || '/' : '/'; // '/channels/' is '/channels'
};

let openApi: string | undefined;

function parse<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'path'): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw fromZod(r.error, where);
  return r.data;
}

async function handle(spec: RouteSpec, handler: Handler<OperationId>, c: Context): Promise<Response> {
  const req = c.req.raw;
  const claims = await authenticate(req);
  // Read (and bound) the body, even where none is expected, so an oversized upload is answered
  // with 413 rather than a reset connection.
  const bytes = req.method === 'GET' ? new Uint8Array() : await readBodyBytes(req);
  const input = {
    params: spec.params ? parse(spec.params, c.req.param(), 'path') : undefined,
    query: spec.query ? parse(spec.query, c.req.query(), 'query') : undefined,
    body: spec.body ? parse(spec.body, parseJson(bytes), 'body') : undefined,
  } as ParsedInput<OperationId>;
  const answer = await asUser(claims, (tx) => handler({ ...input, tx, claims }));
  const result = answer instanceof AfterCommit ? await answer.run() : answer;
  if (spec.produces && result instanceof Response) return result;
  if (!spec.response) return new Response(null, { status: spec.status });
  // The answer must match the published contract; a mismatch is our bug (500), not the client's.
  const checked = spec.response.safeParse(result);
  if (!checked.success) {
    throw new Error(`response of ${spec.method} ${spec.fn}${spec.path} breaks the contract: ${checked.error.message}`);
  }
  return jsonResponse(spec.status, checked.data);
}

/** Static segments before parameters, so '/import' is matched before '/{id}' ('~' sorts after letters). */
const specificity = (path: string) => path.split('/').map((s) => (s.startsWith('{') ? '~' : s)).join('/');

export function defineFunction<F extends FunctionName>(fn: F, handlers: HandlersOf<F>): EdgeFunction {
  const app = new Hono({ getPath: pathOf });
  app.use('*', async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight();
    await next();
    withCors(c.res);
  });
  app.get(`/${fn}/openapi.json`, () => {
    openApi ??= JSON.stringify(buildOpenApiDocument());
    return new Response(openApi, { headers: { 'content-type': 'application/json; charset=utf-8' } });
  });

  const byPath = new Map<string, OperationId[]>();
  for (const op of operationsOf(fn)) {
    const path = routes[op].path;
    byPath.set(path, [...(byPath.get(path) ?? []), op]);
  }
  for (const path of [...byPath.keys()].sort((a, b) => (specificity(a) < specificity(b) ? -1 : 1))) {
    const honoPath = `/${fn}${path === '/' ? '' : path.replace(/\{(\w+)\}/g, ':$1')}`;
    const ops = byPath.get(path)!;
    for (const op of ops) {
      const spec: RouteSpec = routes[op];
      const handler = (handlers as unknown as Record<string, Handler<OperationId>>)[op]!;
      app.on(spec.method, honoPath, (c) => handle(spec, handler, c));
    }
    const allow = [...ops.map((op) => routes[op].method), 'OPTIONS'].join(', ');
    app.all(honoPath, () => {
      throw new ApiError(405, 'method_not_allowed', `method not allowed here; use ${allow}`, { headers: { Allow: allow } });
    });
  }
  app.notFound(() => errorResponse(new ApiError(404, 'not_found', `no such route in function ${fn}`), undefined, corsHeaders));
  app.onError((err, c) => errorResponse(err, c.req.raw, corsHeaders));
  return { fetch: async (req: Request) => await app.fetch(req) };
}

/** Entry point for `deno run`/Supabase: serve when this module is the main one. */
export function serveIfMain(main: boolean, f: EdgeFunction): void {
  if (main) Deno.serve(f.fetch);
}
