// The local project's JWT secret and the keys `supabase status` would show: HS256 tokens
// with Supabase's claim shapes, signed with a secret generated on first start and kept in
// the stack directory (so tokens stay valid across restarts, and a fresh stack gets new ones).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';

const TEN_YEARS = 10 * 365 * 24 * 3600;
/** Supabase's maximum jwt_expiry: long enough for a demo session, short enough to be a user token. */
const ONE_WEEK = 7 * 24 * 3600;

export interface StackKeys {
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
}

/** Reads `<dir>/jwt-secret`, creating it (mode 600) on first use. */
export async function loadOrCreateJwtSecret(dir: string): Promise<string> {
  const file = join(dir, 'jwt-secret');
  if (existsSync(file)) {
    const s = (await readFile(file, 'utf8')).trim();
    if (s.length >= 32) return s;
  }
  // Supabase requires at least 32 characters; base64url keeps it copy-paste safe.
  const secret = randomBytes(40).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

function sign(secret: string, claims: Record<string, unknown>, ttlSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}

/** anon and service_role API keys, shaped like Supabase's legacy JWT keys. */
export async function mintApiKeys(jwtSecret: string): Promise<StackKeys> {
  const [anonKey, serviceRoleKey] = await Promise.all([
    sign(jwtSecret, { iss: 'supabase-demo', role: 'anon' }, TEN_YEARS),
    sign(jwtSecret, { iss: 'supabase-demo', role: 'service_role' }, TEN_YEARS),
  ]);
  return { jwtSecret, anonKey, serviceRoleKey };
}

/** An access token for a user, with the claims Supabase Auth puts in one. */
export function mintUserToken(jwtSecret: string, user: { id: string; email: string }, ttlSeconds = ONE_WEEK): Promise<string> {
  return sign(jwtSecret, {
    iss: 'http://127.0.0.1:54321/auth/v1',
    sub: user.id,
    aud: 'authenticated',
    role: 'authenticated',
    email: user.email,
    phone: '',
    app_metadata: { provider: 'email', providers: ['email'] },
    user_metadata: {},
    aal: 'aal1',
    amr: [{ method: 'password', timestamp: Math.floor(Date.now() / 1000) }],
    session_id: crypto.randomUUID(),
    is_anonymous: false,
  }, ttlSeconds);
}
