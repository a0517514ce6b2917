// Tenant isolation through the functions and the local servers: bounded answers whatever the size
// of a user's data, quotas as HTTP errors, the functions' login role, and the hardening of the
// local router and watch-page server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS_ROLE } from '../../scripts/lib/database.ts';
import { startWebServer } from '../../scripts/stack/web-server.ts';
import { withClient } from '../../scripts/test/db.ts';
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

describe('bounded answers', () => {
  it('lists batches as summaries and pages their members: 20 batches of 2,000 stay small', async () => {
    await withClient(api.db.url, async (c) => {
      await c.query(`insert into public.channels (owner_id, peer) select $1, '@big_' || g from generate_series(1, 2000) g`, [
        a.id,
      ]);
      await c.query(`insert into public.batches (owner_id, name) select $1, 'big ' || g from generate_series(1, 20) g`, [a.id]);
      await c.query(
        `insert into public.batch_channels (batch_id, channel_id, owner_id)
        select b.id, ch.id, $1 from public.batches b, public.channels ch where b.owner_id = $1 and ch.owner_id = $1`,
        [a.id],
      );
    });
    const list = await a.call('GET', '/batches?limit=100');
    expect(list.body.items).toHaveLength(20);
    expect(list.body.items.every((x: any) => x.channelCount === 2000 && !('channelIds' in x))).toBe(true);
    expect(JSON.stringify(list.body).length).toBeLessThan(10_000); // was 2,000 ids per batch

    const id = list.body.items[0].id;
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await a.call('GET', `/batches/${id}/channels?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      for (const ch of page.body.items) seen.add(ch.id);
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect({ seen: seen.size, pages }).toEqual({ seen: 2000, pages: 20 });
    expectErrorShape(await a.call('GET', '/batches/00000000-0000-4000-8000-000000000000/channels'), 404);
  });
});

describe('quotas over HTTP', () => {
  it('answers 422 quota_exceeded naming the quota and the limit', async () => {
    const u = await api.newUser();
    await withClient(api.db.adminUrl, (c) =>
      c.query(
        `insert into private.quota_overrides (owner_id, name, value) values ($1, 'templates', 1)`,
        [u.id],
      ));
    expect((await u.call('POST', '/templates', { name: 'one', text: 'x', parseMode: 'plain' })).status).toBe(201);
    const r = await u.call('POST', '/templates', { name: 'two', text: 'x', parseMode: 'plain' });
    expectErrorShape(r, 422, 'quota_exceeded');
    expect(r.body.error.details).toEqual({ quota: 'templates', limit: 1 });
    expect(r.body.error.issues).toEqual([{ path: ['name'], message: r.body.error.message }]);
    expect(r.body.error.message).toMatch(/at most 1 templates per user/);
  });
});

describe("the functions' database role", () => {
  it('runs every request as a login role that is only a member of authenticated', async () => {
    expect((await a.call('GET', '/templates')).status).toBe(200);
    const roles = await withClient(api.db.adminUrl, (c) =>
      c.query(
        `select distinct usename from pg_stat_activity where datname = current_database() and application_name = 'edge-functions'`,
      ));
    expect(roles.rows.map((r) => r.usename)).toEqual([FUNCTIONS_ROLE]);
    const url = new URL(api.db.url);
    url.username = FUNCTIONS_ROLE;
    url.password = FUNCTIONS_ROLE;
    await withClient(url.toString(), async (c) => {
      const me = await c.query(
        `select rolsuper, rolcreaterole, rolbypassrls, rolinherit from pg_roles where rolname = current_user`,
      );
      expect(me.rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolbypassrls: false, rolinherit: false });
      const member = await c.query(`select array_agg(b.rolname::text order by 1) r from pg_auth_members m
        join pg_roles b on b.oid = m.roleid join pg_roles u on u.oid = m.member where u.rolname = current_user`);
      expect(member.rows[0].r).toEqual(['authenticated']);
      for (const sql of ['set role service_role', 'set role postgres', 'create role x', 'select * from public.channels']) {
        await expect(c.query(sql), sql).rejects.toMatchObject({ code: expect.stringMatching(/^42501$/) });
      }
    });
  });
});

describe('local router', () => {
  it("answers 404 for names on Object's prototype, not a 500", async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      const r = await api.request('GET', `/${name}`);
      expectErrorShape(r, 404, 'not_found');
    }
  });
});

describe('watch-page server', () => {
  it('serves only its own Host names (DNS rebinding) and never answers with a path', async () => {
    const web = await startWebServer({
      port: 0,
      functionsOrigin: api.url.replace(/\/functions\/v1$/, ''),
      config: { demoToken: 'secret-demo-token', demoUserId: a.id, anonKey: 'anon' },
    });
    try {
      const port = new URL(web.url).port;
      const get = async (path: string, host?: string) => {
        const { request } = await import('node:http');
        return new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path, headers: host ? { host } : {} }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          });
          req.on('error', reject);
          req.end();
        });
      };
      expect((await get('/local/config.json')).body).toContain('secret-demo-token');
      expect((await get('/local/config.json', `localhost:${port}`)).status).toBe(200);
      for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${Number(port) + 1}`]) {
        const r = await get('/local/config.json', host);
        expect({ host, status: r.status, leaked: r.body.includes('secret-demo-token') }).toEqual({
          host,
          status: 421,
          leaked: false,
        });
      }
      for (const path of ['/%00', '/%', '/a%00b.js', '/%2e%2e/%2e%2e/etc/passwd']) {
        const r = await get(path);
        expect({ path, status: r.status }).toEqual({ path, status: 404 });
        expect(r.body).not.toMatch(/\//);
      }
    } finally {
      await web.stop();
    }
  });
});
