// Deno unit tests of the functions' shared layer, run by `deno test` inside `npm test`: the error
// mapping every function relies on, body limits, and a function's answers that need no database.
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { errorResponse, toApiError } from '../_shared/errors.ts';
import { MAX_BODY_BYTES, parseJson, readBodyBytes } from '../_shared/body.ts';
import channels from '../channels/index.ts';

function pgError(code: string, message: string, extra: Record<string, string> = {}): Error {
  const e = Object.assign(new Error(message), { code, ...extra });
  e.name = 'PostgresError'; // what postgres.js throws
  return e;
}

Deno.test('database errors become the documented HTTP answers', () => {
  const cases: Array<[Error, number, string]> = [
    [pgError('PT404', 'campaign x not found'), 404, 'not_found'],
    [pgError('PT422', 'campaign has no targets'), 422, 'validation_failed'],
    [pgError('PT413', 'at most 1000 peers'), 413, 'payload_too_large'],
    [pgError('23505', 'dup', { constraint_name: 'channels_owner_id_peer_key' }), 409, 'conflict'],
    [pgError('23503', 'update or delete on table "telegram_accounts" violates foreign key'), 409, 'conflict'],
    [pgError('23503', 'insert or update on table "batch_channels" violates foreign key'), 422, 'validation_failed'],
    [pgError('23514', 'check', { constraint_name: 'templates_parse_mode_check' }), 422, 'validation_failed'],
    [pgError('22023', 'not a Telegram peer: "x"'), 422, 'validation_failed'],
    [pgError('40P01', 'deadlock detected'), 503, 'unavailable'],
    [pgError('XX000', 'internal detail that must not leak'), 500, 'internal'],
    [new TypeError('a bug'), 500, 'internal'],
  ];
  for (const [err, status, code] of cases) {
    const e = toApiError(err);
    assert.deepEqual({ status: e.status, code: e.code }, { status, code }, err.message);
  }
});

Deno.test('an illegal transition answers 409 with from, to and action', async () => {
  const res = errorResponse(
    pgError('PT409', 'cannot pause campaign: it is draft; pause goes from running or scheduled to paused', {
      detail: JSON.stringify({ from: 'draft', to: 'paused', action: 'pause' }),
    }),
  );
  assert.equal(res.status, 409);
  const body = await res.json();
  assert.equal(body.error.code, 'illegal_transition');
  assert.deepEqual(body.error.details, { from: 'draft', to: 'paused', action: 'pause' });
  assert.match(body.error.message, /draft/);
});

Deno.test('an RPC error that names its field in DETAIL answers with that issue', async () => {
  const body = await errorResponse(pgError('PT422', 'unknown channelIds: 1', { detail: '{"field":"channelIds"}' })).json();
  assert.deepEqual(body.error, {
    code: 'validation_failed',
    message: 'unknown channelIds: 1',
    issues: [{ path: ['channelIds'], message: 'unknown channelIds: 1' }],
  });
  const nested = toApiError(pgError('PT422', 'message.text is required', { detail: '{"field":"message.text"}' }));
  assert.deepEqual(nested.issues?.[0]?.path, ['message', 'text']);
});

Deno.test('a constraint violation names the offending field, a 500 names nothing internal', async () => {
  const body = await errorResponse(pgError('23514', 'check', { constraint_name: 'templates_parse_mode_check' })).json();
  assert.deepEqual(body.error.issues, [{ path: ['parseMode'], message: 'is out of the allowed range' }]);
  const origError = console.error;
  console.error = () => {};
  try {
    const hidden = await errorResponse(pgError('XX000', 'relation "secret_table" does not exist')).json();
    assert.deepEqual(hidden, { error: { code: 'internal', message: 'internal error' } });
  } finally {
    console.error = origError;
  }
});

Deno.test('bodies over 1 MB are refused with 413; bad JSON and bad UTF-8 with 400', async () => {
  const big = new Request('http://x/', { method: 'POST', body: new Uint8Array(MAX_BODY_BYTES + 1) });
  await assert.rejects(readBodyBytes(big), (e: { status: number }) => e.status === 413);
  const ok = await readBodyBytes(new Request('http://x/', { method: 'POST', body: '{"a":1}' }));
  assert.deepEqual(parseJson(ok), { a: 1 });
  assert.throws(() => parseJson(new TextEncoder().encode('{"a":')), (e: { status: number }) => e.status === 400);
  assert.throws(() => parseJson(new Uint8Array([0xff, 0xfe])), (e: { status: number }) => e.status === 400);
  assert.throws(() => parseJson(new Uint8Array()), (e: { status: number }) => e.status === 400);
});

Deno.test('a function answers CORS, 404, 405 and 401 before touching the database', async () => {
  const url = 'http://127.0.0.1/functions/v1/channels';
  const preflight = await channels.fetch(new Request(url, { method: 'OPTIONS' }));
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
  await preflight.body?.cancel();

  const wrongMethod = await channels.fetch(new Request(url, { method: 'PUT' }));
  assert.equal(wrongMethod.status, 405);
  assert.ok(wrongMethod.headers.get('allow'));
  await wrongMethod.body?.cancel();

  const unknown = await channels.fetch(new Request(`${url}/x/y/z`));
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();

  const secret = new TextEncoder().encode('a-test-secret-of-at-least-32-characters!');
  Deno.env.set('SUPABASE_JWT_SECRET', 'a-test-secret-of-at-least-32-characters!');
  const expired = await new SignJWT({ role: 'authenticated' }).setProtectedHeader({ alg: 'HS256' })
    .setSubject(crypto.randomUUID()).setAudience('authenticated').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(
      secret,
    );
  for (const auth of [undefined, 'Bearer nonsense', `Bearer ${expired}`]) {
    const res = await channels.fetch(new Request(url, { headers: auth ? { authorization: auth } : {} }));
    assert.equal(res.status, 401, auth);
    const body = await res.json();
    assert.equal(body.error.code, 'unauthorized');
  }
});

Deno.test('a caller without a valid token gets 401 before a byte of the body is read', async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(64 * 1024));
    },
  }, { highWaterMark: 0 });
  const res = await channels.fetch(
    new Request('http://127.0.0.1/functions/v1/channels', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    }),
  );
  assert.equal(res.status, 401);
  await res.body?.cancel();
  assert.equal(pulled, 0);
});

Deno.test('a declared Content-Length over 1 MB is refused with 413 without reading the body', async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(1));
    },
  }, { highWaterMark: 0 });
  const req = new Request('http://127.0.0.1/x', {
    method: 'POST',
    body,
    headers: { 'content-length': String(2 * MAX_BODY_BYTES) },
  });
  await assert.rejects(readBodyBytes(req), (e: { status?: number }) => e.status === 413);
  assert.equal(pulled, 0);
});
