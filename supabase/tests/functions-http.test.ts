// The HTTP envelope every function shares: tokens (HS256 secret, JWKS/ES256, expired, forged,
// alg none, wrong audience/role), CORS, unknown routes (404), wrong methods (405), body size (413)
// and malformed JSON (400).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
beforeAll(async () => {
  api = await startApi();
  a = await api.newUser();
});
afterAll(async () => {
  await api?.stop();
});

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const get = (token?: string, path = '/channels') =>
  api.request('GET', path, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

describe('tokens', () => {
  it('accepts a user token signed with the project secret (HS256)', async () => {
    expect((await get(a.token)).status).toBe(200);
  });

  it('accepts a user token signed with an asymmetric key published in the JWKS (ES256)', async () => {
    const token = await api.sign({ sub: a.id }, { alg: 'ES256' });
    const r = await api.request('POST', '/templates', {
      body: { name: 'es', text: 'x', parseMode: 'plain' },
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.status).toBe(201);
    expect((await get(a.token, `/templates/${r.body.id}`)).status).toBe(200); // the same user either way
  });

  it('refuses missing, malformed, expired, forged, unsigned and non-user tokens with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const other = await generateKeyPair('ES256');
    const forgedEs = await new SignJWT({ sub: a.id, role: 'authenticated', aud: 'authenticated' })
      .setProtectedHeader({ alg: 'ES256', kid: 'test-es256' }).setExpirationTime('1h').sign(other.privateKey);
    const cases: [string, string | undefined, RegExp?][] = [
      ['no header', undefined, /missing bearer token/],
      ['not a jwt', 'abc.def', /malformed/],
      ['expired', await api.sign({ sub: a.id }, { expiresIn: now - 60 }), /expired/],
      ['wrong secret', await api.sign({ sub: a.id }, { secret: 'not-the-project-secret-at-all-000' }), /invalid token/],
      [
        'alg none',
        `${b64url({ alg: 'none', typ: 'JWT' })}.${
          b64url({ sub: a.id, role: 'authenticated', aud: 'authenticated', exp: now + 3600 })
        }.`,
      ],
      ['wrong audience', await api.sign({ sub: a.id, aud: 'anon' })],
      ['anon role', await api.sign({ sub: a.id, role: 'anon' }), /role/],
      ['service role', await api.sign({ sub: a.id, role: 'service_role' }), /role/],
      ['no sub', await api.sign({})],
      ['sub not a uuid', await api.sign({ sub: 'admin' }), /user id/],
      ['ES256 signed by another key', forgedEs, /invalid token/],
      [
        'tampered payload',
        (() => {
          const [h, , s] = a.token.split('.');
          return `${h}.${b64url({ sub: a.id, role: 'authenticated', aud: 'authenticated', exp: now + 9e6 })}.${s}`;
        })(),
      ],
    ];
    for (const [name, token, message] of cases) {
      const r = await get(token);
      expectErrorShape(r, 401, 'unauthorized');
      if (message) expect(r.body.error.message, name).toMatch(message);
      // never echo the token or the secret
      expect(JSON.stringify(r.body)).not.toContain(api.secret);
      if (token) expect(JSON.stringify(r.body)).not.toContain(token);
    }
    const basic = await api.request('GET', '/channels', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expectErrorShape(basic, 401);
  });

  it('does not let a JWKS public key serve as an HS256 secret (algorithm confusion)', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const asSecret = JSON.stringify(await exportJWK(publicKey));
    expectErrorShape(await get(await api.sign({ sub: a.id }, { secret: asSecret })), 401);
  });
});

describe('envelope', () => {
  it('answers CORS preflights and puts CORS headers on answers and errors', async () => {
    const pre = await fetch(`${api.url}/campaigns/x/start`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')).toBe('authorization, x-client-info, apikey, content-type');
    expect((await get(a.token)).headers.get('access-control-allow-origin')).toBe('*');
    expect((await get(undefined)).headers.get('access-control-allow-origin')).toBe('*');
  });

  it('answers 404 for unknown routes and functions, 405 with Allow for wrong methods', async () => {
    expectErrorShape(await a.call('GET', '/channels/00000000-0000-4000-8000-000000000000/nothing'), 404, 'not_found');
    expectErrorShape(await a.call('GET', '/nofunction'), 404, 'not_found');
    const wrong = await a.call('PUT', '/channels');
    expectErrorShape(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.get('allow')).toBe('GET, POST, OPTIONS');
    expectErrorShape(await a.call('GET', '/channels/import'), 405);
    expect((await a.call('GET', '/channels/')).status).toBe(200); // trailing slash
  });

  it('answers 413 for bodies over 1 MB, wherever they are sent', async () => {
    const big = JSON.stringify({ peer: 'x'.repeat(2 * 1024 * 1024) });
    expectErrorShape(await a.call('POST', '/channels', big), 413, 'payload_too_large');
    expectErrorShape(await a.call('POST', '/campaigns/00000000-0000-4000-8000-000000000000/start', big), 413);
    // Without a token: 401, before a byte of the body is read (an anonymous caller cannot make
    // the server buffer megabytes); also when the size is not declared (chunked upload).
    expectErrorShape(await api.request('POST', '/channels', { body: big }), 401);
    const chunked = await fetch(
      `${api.url}/channels`,
      {
        method: 'POST',
        body: new Blob([big]).stream(),
        duplex: 'half',
      } as RequestInit & { duplex: 'half' },
    );
    expect(chunked.status).toBe(401);
  });

  it('answers 400 for bodies that are not JSON and 422 for JSON that is not an object', async () => {
    for (const body of ['{', 'peer=x', '\u00ff\u00fe', '{"peer": "@abc"']) {
      expectErrorShape(await a.call('POST', '/channels', body), 400, 'bad_request');
    }
    const invalidUtf8 = await api.request('POST', '/channels', {
      body: new Uint8Array([0x7b, 0xff, 0x7d]),
      headers: { authorization: `Bearer ${a.token}` },
    });
    expectErrorShape(invalidUtf8, 400);
    for (const body of ['[]', '"x"', '1', 'null']) {
      expectErrorShape(await a.call('POST', '/channels', body), 422, 'validation_failed');
    }
  });

  it('serves the OpenAPI document from every function', async () => {
    for (const fn of ['channels', 'campaigns']) {
      const r = await api.request('GET', `/${fn}/openapi.json`);
      expect(r.status).toBe(200);
      expect(r.body.openapi).toBe('3.1.0');
    }
  });
});
