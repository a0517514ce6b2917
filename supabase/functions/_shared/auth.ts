// Bearer JWT verification with jose. HS256 tokens are checked with the project's JWT secret,
// asymmetric ones (ES256/RS256/EdDSA, Supabase's signing keys) against a JWKS: inline JSON in
// SUPABASE_JWKS, or fetched from SUPABASE_JWKS_URL / the project's /auth/v1/.well-known/jwks.json.
// Only a signed, unexpired user token (sub, role and audience 'authenticated') passes.
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import { env } from './env.ts';
import { ApiError } from './errors.ts';

export interface UserClaims extends JWTPayload {
  sub: string;
  role: 'authenticated';
}

const ASYMMETRIC = ['ES256', 'RS256', 'PS256', 'EdDSA', 'ES384', 'RS384', 'ES512', 'RS512'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Verifier {
  secret?: Uint8Array;
  jwks?: JWTVerifyGetKey;
}
let cached: { key: string; verifier: Verifier } | undefined;

/** Built once per configuration (tests change env between runs of one process only via restarts). */
function verifier(): Verifier {
  const secret = env('SUPABASE_JWT_SECRET') ?? env('JWT_SECRET');
  const jwksJson = env('SUPABASE_JWKS');
  const jwksUrl = env('SUPABASE_JWKS_URL') ??
    (env('SUPABASE_URL') && `${env('SUPABASE_URL')!.replace(/\/$/, '')}/auth/v1/.well-known/jwks.json`);
  const key = `${secret?.length}|${jwksJson}|${jwksUrl}`;
  if (cached?.key === key) return cached.verifier;
  const v: Verifier = {};
  if (secret) v.secret = new TextEncoder().encode(secret);
  if (jwksJson) {
    try {
      v.jwks = createLocalJWKSet(JSON.parse(jwksJson) as JSONWebKeySet);
    } catch {
      console.error('[functions] SUPABASE_JWKS is not a JSON Web Key Set; asymmetric tokens are refused');
    }
  } else if (jwksUrl) {
    v.jwks = createRemoteJWKSet(new URL(jwksUrl));
  }
  cached = { key, verifier: v };
  return v;
}

const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message);

export async function authenticate(req: Request): Promise<UserClaims> {
  const header = req.headers.get('authorization') ?? '';
  const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  if (!token) throw unauthorized('missing bearer token: send Authorization: Bearer <access token>');

  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized('malformed token');
  }
  const v = verifier();
  let payload: JWTPayload;
  try {
    if (alg === 'HS256' && v.secret) {
      ({ payload } = await jwtVerify(token, v.secret, {
        algorithms: ['HS256'],
        audience: 'authenticated',
        requiredClaims: ['exp', 'sub'],
      }));
    } else if (alg && ASYMMETRIC.includes(alg) && v.jwks) {
      ({ payload } = await jwtVerify(token, v.jwks, {
        algorithms: ASYMMETRIC,
        audience: 'authenticated',
        requiredClaims: ['exp', 'sub'],
      }));
    } else {
      // 'none', HS256 without a configured secret, or an algorithm we have no key for.
      throw unauthorized(`tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const code = (err as { code?: string }).code;
    throw unauthorized(code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'invalid token');
  }
  if (payload.role !== 'authenticated') throw unauthorized("token is not a signed-in user's (role must be authenticated)");
  if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) throw unauthorized('token has no user id');
  return payload as UserClaims;
}
