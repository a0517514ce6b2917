// JWT checks of the Realtime stand-in, as Realtime makes them: the socket's apikey must be a
// token of this project; a channel's access_token (or, without one, the apikey) must be signed by
// the project (HS256 secret or a JWKS) and unexpired. Errors read like Realtime's join errors.
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';

export interface TokenKeys {
  /** The project's legacy JWT secret (HS256). */
  jwtSecret?: string;
  /** The project's signing keys (ES256/RS256...), for asymmetric tokens. */
  jwks?: JSONWebKeySet;
}

export type Verified = { ok: true; claims: JWTPayload } | { ok: false; reason: string };

/** Tokens remembered as verified (a client sends the same one with every join and refresh). */
const REMEMBERED_TOKENS = 10_000;

/**
 * The verifier, remembering each token's answer while it is being checked and, for a valid token,
 * until it expires: a flood of joins with one token costs one signature check, not one each, and
 * does not queue everyone else's checks behind it.
 */
export function tokenVerifier(keys: TokenKeys): (token: string | undefined) => Promise<Verified> {
  const verify = signatureVerifier(keys);
  const known = new Map<string, { result: Promise<Verified>; until: number }>();
  return (token) => {
    if (!token) return verify(token);
    const hit = known.get(token);
    if (hit && Date.now() < hit.until) return hit.result;
    const entry = { result: verify(token), until: Infinity };
    known.delete(token);
    if (known.size >= REMEMBERED_TOKENS) known.delete(known.keys().next().value!);
    known.set(token, entry);
    void entry.result.then((v) => {
      if (v.ok) entry.until = Number(v.claims.exp) * 1000;
      else known.delete(token);
    });
    return entry.result;
  };
}

function signatureVerifier(keys: TokenKeys): (token: string | undefined) => Promise<Verified> {
  const secret = keys.jwtSecret ? new TextEncoder().encode(keys.jwtSecret) : undefined;
  const jwks = keys.jwks ? createLocalJWKSet(keys.jwks) : undefined;
  return async (token) => {
    if (!token) return { ok: false, reason: 'InvalidJWTToken: no access token' };
    try {
      const { payload } = secret && decodeAlg(token) === 'HS256'
        ? await jwtVerify(token, secret, { algorithms: ['HS256'], requiredClaims: ['exp', 'role'] })
        : jwks
        ? await jwtVerify(token, jwks, { requiredClaims: ['exp', 'role'] })
        : await Promise.reject(Object.assign(new Error('no key for this token'), { code: 'ERR_JWKS_NO_MATCHING_KEY' }));
      return { ok: true, claims: payload };
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_JWT_EXPIRED') {
        const exp = Number(decodeJwt(token).exp);
        return {
          ok: false,
          reason: `InvalidJWTToken: Token has expired ${Math.max(0, Math.floor(Date.now() / 1000 - exp))} seconds ago`,
        };
      }
      return { ok: false, reason: `InvalidJWTToken: ${(err as Error).message}` };
    }
  };
}

function decodeAlg(token: string): string | undefined {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { alg?: string }).alg;
  } catch {
    return undefined;
  }
}
