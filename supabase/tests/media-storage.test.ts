// The Storage stand-in (scripts/storage/) against what an attacker sends it, over HTTP: object
// names that climb into another user's folder or that hosted Storage refuses (400, no row), a
// campaign naming such a path through the function URLs (422), bodies refused before they are
// read (anon keys, sizes past the limit or the user's quota), a cacheControl with a line break,
// and downloads that declare the stored file's own length.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStorage, type Storage } from '../../scripts/storage/server.ts';
import { withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let storage: Storage;
let server: Server;
let base: string;
let port: number;
let dir: string;
let a: User;
let b: User;
let anonKey: string;

beforeAll(async () => {
  api = await startApi();
  dir = await mkdtemp(join(tmpdir(), 'tg-storage-'));
  storage = await createStorage({ dbUrl: api.db.url, jwtSecret: api.secret, dir });
  server = createServer((req, res) => {
    if (!storage.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}/storage/v1/object`;
  a = await api.newUser();
  b = await api.newUser();
  anonKey = await api.sign({ role: 'anon' });
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await storage?.close();
  await api?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** One request with the path exactly as given (fetch would normalise `..` away). */
function raw(method: string, path: string, token: string, body = '', headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: any; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: `/storage/v1/object/${path}`,
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain', ...headers },
    }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d)).on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch { /* a file */ }
        resolve({ status: res.statusCode!, body: parsed, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends `total` bytes (declared, or chunked when `declared` is false) and returns the answer's
 * status and how many bytes had been handed to the socket when it arrived.
 */
function sendLarge(method: string, path: string, token: string, total: number, declared = true) {
  return new Promise<{ status: number; sentBeforeAnswer: number }>((resolve, reject) => {
    const chunk = Buffer.alloc(1024 * 1024, 1);
    let sent = 0;
    let answered = false;
    const req = request(`${base}/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/octet-stream',
        ...(declared ? { 'content-length': String(total) } : { 'transfer-encoding': 'chunked' }),
      },
    }, (res) => {
      answered = true;
      resolve({ status: res.statusCode!, sentBeforeAnswer: sent });
      res.resume();
      req.destroy();
    });
    req.on('error', (err) => answered || reject(err));
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

const rowsNamed = (pattern: string) =>
  withClient(
    api.db.url,
    async (c) =>
      (await c.query(`select name from storage.objects where name like $1 order by name`, [pattern])).rows.map((r) => r.name),
  );

describe('object names', () => {
  it("refuses a name that climbs from the user's folder into another's, and a campaign naming it", async () => {
    expect((await raw('POST', `campaign-media/${b.id}/secret.txt`, b.token, 'B only')).status).toBe(200);
    // The first folder is A's, so the owner-folder policy alone would let it through.
    const climb = await raw('POST', `campaign-media/${a.id}%2F..%2F${b.id}%2Fsecret.txt`, a.token, 'x');
    expect({ status: climb.status, error: climb.body.error }).toEqual({ status: 400, error: 'InvalidKey' });
    expect(climb.body.message).toMatch(/has a "\.\." segment/);
    expect(await rowsNamed(`${a.id}/%`)).toEqual([]);

    await a.call('POST', '/accounts', { label: 'A' });
    const channel = (await a.call('POST', '/channels', { peer: '@a_target' })).body.id;
    const campaign = await a.call('POST', '/campaigns', {
      name: 'steal',
      message: { text: 'x', media: { path: `${a.id}/../${b.id}/secret.txt`, kind: 'document' } },
      channelIds: [channel],
    });
    expect(campaign.status).toBe(422);
    expect(campaign.body.error.issues.map((i: { path: string[] }) => i.path.join('.'))).toEqual(['message.media.path']);
    const template = await a.call('POST', '/templates', {
      name: 'steal',
      text: 'x',
      media: { path: `${a.id}/../${b.id}/secret.txt`, kind: 'document' },
    });
    expect(template.status).toBe(422);
  });

  it('answers 400, never 500, to names hosted Storage refuses or that do not decode', async () => {
    const names = [
      `${a.id}/../${b.id}/secret.txt`, // sent as is: not normalised away
      `${a.id}/%2e%2e/${b.id}/secret.txt`,
      `${a.id}/./x.txt`,
      `${a.id}//x.txt`,
      `${a.id}/a%00b.txt`,
      `${a.id}/a%01b.txt`,
      `${a.id}/a%0Ab.txt`,
      `${a.id}/%E2%80%AEtxt.exe`, // RIGHT-TO-LEFT OVERRIDE
      `${a.id}/bad%E0%A4%A.txt`,
      `${a.id}/100%.txt`,
      `${a.id}/${'a'.repeat(256)}.txt`,
    ];
    for (const name of names) {
      const up = await raw('POST', `campaign-media/${name}`, a.token, 'x');
      expect([up.status, up.body.error], name).toEqual([400, 'InvalidKey']);
      const down = await raw('GET', `campaign-media/${name}`, a.token);
      expect([down.status, down.body.error], name).toEqual([400, 'InvalidKey']);
    }
    expect(await rowsNamed(`${a.id}/%`)).toEqual([]);
    expect((await raw('POST', `campaign-media/${a.id}/%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%F0%9F%98%80.txt`, a.token, 'ok')).status)
      .toBe(200);
  });
});

describe('bodies', () => {
  it('refuses a 250 MB remove and a 49 MB upload with the anon key before reading them', async () => {
    const total = 250 * 1024 * 1024;
    const del = await sendLarge('DELETE', 'campaign-media', anonKey, total);
    // Answered while most of the body was still unsent: it was not read first.
    expect({ status: del.status, early: del.sentBeforeAnswer < total / 4 }).toEqual({ status: 413, early: true });
    const up = await sendLarge('POST', `campaign-media/${a.id}/big.bin`, anonKey, 49 * 1024 * 1024);
    // Storage's answer to a policy refusal: HTTP 400, statusCode 403.
    expect({ status: up.status, early: up.sentBeforeAnswer < 49 * 1024 * 1024 / 4 }).toEqual({ status: 400, early: true });
    expect(await readdir(join(dir, 'objects'))).not.toContainEqual(expect.stringMatching(/^\./));
  });

  it("stops reading an upload, declared or chunked, once it passes the user's quota", async () => {
    const c = await api.newUser();
    await withClient(api.db.url, (cl) =>
      cl.query(
        `insert into private.quota_overrides (owner_id, name, value) values ($1, 'storage_bytes', 1048576)`,
        [c.id],
      ));
    const total = 64 * 1024 * 1024;
    const declared = await sendLarge('POST', `campaign-media/${c.id}/d.bin`, c.token, total);
    expect(declared.status).toBe(413);
    expect(declared.sentBeforeAnswer).toBeLessThan(total / 4);
    const chunked = await sendLarge('POST', `campaign-media/${c.id}/c.bin`, c.token, total, false);
    expect(chunked.status).toBe(413);
    expect(chunked.sentBeforeAnswer).toBeLessThan(total / 4);
    expect(await rowsNamed(`${c.id}/%`)).toEqual([]);
    expect(await readdir(join(dir, 'objects'))).not.toContainEqual(expect.stringMatching(/^\./));
    // Within the quota all is well, and a second file counts against it too.
    expect((await raw('POST', `campaign-media/${c.id}/half.bin`, c.token, 'x'.repeat(600 * 1024))).status).toBe(200);
    const over = await raw('POST', `campaign-media/${c.id}/more.bin`, c.token, 'x'.repeat(600 * 1024));
    expect([over.status, over.body.error]).toEqual([413, 'quota_exceeded']);
  });
});

describe('file facts', () => {
  it('refuses a cacheControl with a line break (400), and downloads answer with the stored length', async () => {
    const form = new FormData();
    form.append('cacheControl', '3600\r\nx-injected: 1');
    form.append('', new Blob(['pic'], { type: 'image/png' }), 'pic.png');
    const bad = await fetch(`${base}/campaign-media/${a.id}/cc.png`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}` },
      body: form,
    });
    expect([bad.status, ((await bad.json()) as { error: string }).error]).toEqual([400, 'invalid_request']);
    expect(await rowsNamed(`${a.id}/cc.png`)).toEqual([]);

    expect((await raw('POST', `campaign-media/${a.id}/three.txt`, a.token, 'abc')).status).toBe(200);
    // Facts written before these checks existed: a wrong size, a header that cannot be sent.
    await withClient(api.db.url, (c) =>
      c.query(
        `update storage.objects set metadata = metadata || '{"size": 1000, "cacheControl": "max-age=1\\r\\nx: y"}' where name = $1`,
        [`${a.id}/three.txt`],
      ));
    const down = await raw('GET', `campaign-media/${a.id}/three.txt`, a.token);
    expect([down.status, down.body, down.headers['content-length'], down.headers['cache-control']])
      .toEqual([200, 'abc', '3', 'no-cache']);
  });

  it("takes an upload's size and type from the file, not from the uploader", async () => {
    const up = await raw('POST', `campaign-media/${a.id}/real.txt`, a.token, 'twelve bytes');
    expect(up.status).toBe(200);
    const meta = await withClient(
      api.db.url,
      async (c) => (await c.query(`select metadata from storage.objects where name = $1`, [`${a.id}/real.txt`])).rows[0].metadata,
    );
    expect(meta).toMatchObject({ size: 12, mimetype: 'text/plain' });
    const replaced = await raw('PUT', `campaign-media/${a.id}/real.txt`, a.token, '{"x":1}', {
      'content-type': 'application/json',
    });
    expect(replaced.status).toBe(200);
    const down = await raw('GET', `campaign-media/${a.id}/real.txt`, a.token);
    expect([down.body, down.headers['content-type'], down.headers['content-length']]).toEqual([
      { x: 1 },
      'application/json',
      '7',
    ]);
  });
});
