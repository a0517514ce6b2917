// Shared setup of the functions' HTTP tests: a fresh database cloned from the migrated template,
// the local router (real Deno, real HTTP) on a free port, tokens signed like Supabase Auth's
// (HS256 with the project secret, or ES256 with a key published through SUPABASE_JWKS), and a
// fingerprint of every app table to prove that refused requests changed nothing.
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { type FunctionsServer, startFunctionsServer } from '../../scripts/functions-server.ts';
import { asFunctionsRole } from '../../scripts/lib/database.ts';
import { createTestDatabase, createUser, type TestDatabase, withClient } from '../../scripts/test/db.ts';

export const APP_TABLES = [
  'public.telegram_accounts',
  'public.channels',
  'public.batches',
  'public.batch_channels',
  'public.templates',
  'public.campaigns',
  'public.deliveries',
  'public.delivery_actions',
  'public.audit_log',
  'public.webhook_endpoints',
  'public.webhook_deliveries',
  'public.webhook_attempts',
  'private.webhook_secrets',
  'private.webhook_events',
  'pgboss.job',
  'pgboss.queue',
];

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface User {
  id: string;
  token: string;
  /** JSON request as this user; body strings are sent as is (for malformed JSON). */
  call<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply<T>>;
}

export interface ApiFixture {
  db: TestDatabase;
  server: FunctionsServer;
  url: string;
  secret: string;
  /** Signs HS256 with the project secret unless told otherwise. */
  sign(claims: JWTPayload, opts?: { secret?: string; alg?: 'HS256' | 'ES256'; expiresIn?: string | number }): Promise<string>;
  newUser(): Promise<User>;
  request<T = any>(method: string, path: string, init?: { body?: unknown; headers?: Record<string, string> }): Promise<Reply<T>>;
  /** Row count and content hash of every app table. */
  fingerprint(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startApi(): Promise<ApiFixture> {
  const db = await createTestDatabase({ prefix: 'tg_fn' });
  const secret = randomBytes(32).toString('hex');
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-es256', alg: 'ES256', use: 'sig' };
  let server: FunctionsServer;
  try {
    server = await startFunctionsServer({
      port: 0,
      // as the stack runs them: logged in as a member of `authenticated` only
      env: {
        SUPABASE_DB_URL: asFunctionsRole(db.url),
        SUPABASE_JWT_SECRET: secret,
        SUPABASE_JWKS: JSON.stringify({ keys: [jwk] }),
        SUPABASE_URL: '',
      },
      log: (line) => {
        if (line.trim()) process.stderr.write(`[functions] ${line}\n`);
      },
    });
  } catch (err) {
    await db.drop();
    throw err;
  }
  const url = server.functionsUrl;

  const sign: ApiFixture['sign'] = async (claims, opts = {}) => {
    const jwt = new SignJWT({ aud: 'authenticated', role: 'authenticated', ...claims })
      .setIssuedAt()
      .setExpirationTime(opts.expiresIn ?? '1h');
    if (opts.alg === 'ES256') return jwt.setProtectedHeader({ alg: 'ES256', kid: jwk.kid }).sign(privateKey);
    return jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(opts.secret ?? secret));
  };

  const request: ApiFixture['request'] = async (method, path, init = {}) => {
    const body = init.body === undefined
      ? undefined
      : typeof init.body === 'string' || init.body instanceof Uint8Array
      ? init.body
      : JSON.stringify(init.body);
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...init.headers },
      body: body as RequestInit['body'],
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch { /* not JSON: keep the text */ }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };

  return {
    db,
    server,
    url,
    secret,
    sign,
    request,
    async newUser() {
      const id = await createUser(db);
      const token = await sign({ sub: id, email: `${id}@example.test` });
      return {
        id,
        token,
        call: (method, path, body, headers) =>
          request(method, path, { body, headers: { authorization: `Bearer ${token}`, ...headers } }),
      };
    },
    async fingerprint() {
      return withClient(db.adminUrl, async (c) => {
        const out: Record<string, string> = {};
        for (const t of APP_TABLES) {
          const { rows } = await c.query(
            `select count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text)), '') as f from ${t} x`,
          );
          out[t] = rows[0].f;
        }
        return out;
      });
    },
    async stop() {
      await server.stop();
      await db.drop();
    },
  };
}

/** Everything every error answer must look like (docs/architecture.md §2). */
export function expectErrorShape(reply: Reply, status: number, code?: string): void {
  if (reply.status !== status) {
    throw new Error(`expected ${status}, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  }
  const e = reply.body?.error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || (code && e.code !== code)) {
    throw new Error(`bad error body for ${status}${code ? ` ${code}` : ''}: ${JSON.stringify(reply.body)}`);
  }
}
