// Media and test-send rules in SQL (migration 20261202300000): the bucket's owner-folder
// policies on storage.objects, the 422s of create_campaign and templates naming the field, the
// caption limit, test_campaign's refusals, and what worker_take hands the worker.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asServiceRole, asUser, createUser } from '../../scripts/test/db.ts';
import { makeOwner, sqlError, useOwnerDatabase } from './fixtures.ts';

const t = useOwnerDatabase(3, 'media');

/**
 * An object row as the Storage server writes it on upload: the row as the user (the policies
 * apply), its file facts as the server itself.
 */
const upload = async (userId: string, name: string, mimetype: string, size = 1000) => {
  await asUser(
    t.client,
    userId,
    (c) => c.query(`insert into storage.objects (bucket_id, name, owner_id) values ('campaign-media', $1, $2)`, [name, userId]),
  );
  await t.client.query(`update storage.objects set metadata = $2 where bucket_id = 'campaign-media' and name = $1`, [
    name,
    { mimetype, size },
  ]);
};

const create = (userId: string, channelIds: string[], message: Record<string, unknown>) =>
  asUser(t.client, userId, async (c) =>
    (await c.query(
      `select * from public.create_campaign(p_name => 'm', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
      [channelIds, JSON.stringify(message)],
    )).rows[0]);

const fieldOf = (e: { detail?: string }) => JSON.parse(e.detail ?? '{}').field;

describe('campaign-media bucket policies', () => {
  it('lets a user write and read only under their own id', async () => {
    const me = t.owner.userId;
    await upload(me, `${me}/pic.jpg`, 'image/jpeg');
    const other = await createUser(t.db);
    const denied = await sqlError(t.client, other, (c) =>
      c.query(
        `insert into storage.objects (bucket_id, name, owner_id) values ('campaign-media', $1, $2)`,
        [`${me}/evil.jpg`, other],
      ));
    expect(denied.code).toBe('42501');
    const seen = await asUser(
      t.client,
      other,
      (c) => c.query(`select 1 from storage.objects where name = $1`, [`${me}/pic.jpg`]),
    );
    expect(seen.rowCount).toBe(0);
    const mine = await asUser(t.client, me, (c) => c.query(`select 1 from storage.objects where name = $1`, [`${me}/pic.jpg`]));
    expect(mine.rowCount).toBe(1);
  });
});

describe('create_campaign with media', () => {
  it('snapshots the media and the object facts', async () => {
    const me = t.owner.userId;
    await upload(me, `${me}/a.png`, 'image/png', 2048);
    const c = await create(me, t.owner.channelIds, { text: 'caption', media: { path: `${me}/a.png`, kind: 'photo' } });
    expect(c).toMatchObject({ media_path: `${me}/a.png`, media_kind: 'photo', media_mime: 'image/png', media_size: '2048' });
  });

  it("refuses a missing object, another user's object, a wrong kind, a big photo and a long caption, naming the field", async () => {
    const me = t.owner.userId;
    const other = await makeOwner(t.db, t.client, 1, 'media2');
    await upload(other.userId, `${other.userId}/theirs.jpg`, 'image/jpeg');
    await upload(me, `${me}/doc.pdf`, 'application/pdf');
    await upload(me, `${me}/big.jpg`, 'image/jpeg', 11 * 1024 * 1024);
    await upload(me, `${me}/ok.jpg`, 'image/jpeg');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ text: 'x', media: { path: `${me}/none.jpg`, kind: 'photo' } }, 'message.media.path'],
      [{ text: 'x', media: { path: `${other.userId}/theirs.jpg`, kind: 'photo' } }, 'message.media.path'],
      [{ text: 'x', media: { path: `${me}/doc.pdf`, kind: 'photo' } }, 'message.media.kind'],
      [{ text: 'x', media: { path: `${me}/doc.pdf`, kind: 'sticker' } }, 'message.media.kind'],
      [{ text: 'x', media: { path: `${me}/big.jpg`, kind: 'photo' } }, 'message.media.path'],
      [{ text: 'x'.repeat(1025), media: { path: `${me}/ok.jpg`, kind: 'photo' } }, 'message.text'],
    ];
    for (const [message, field] of cases) {
      const e = await sqlError(t.client, me, (c) =>
        c.query(
          `select public.create_campaign(p_name => 'm', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
          [t.owner.channelIds, JSON.stringify(message)],
        ));
      expect({ code: e.code, field: fieldOf(e) }, e.message).toEqual({ code: 'PT422', field });
    }
    // The other user cannot use it either, even knowing the path: it is not under their folder.
    const e = await sqlError(t.client, other.userId, (c) =>
      c.query(
        `select public.create_campaign(p_name => 'm', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
        [other.channelIds, JSON.stringify({ text: 'x', media: { path: `${me}/ok.jpg`, kind: 'photo' } })],
      ));
    expect(fieldOf(e)).toBe('message.media.path');
    // A document may be anything; a text message still has 4,096.
    await create(me, t.owner.channelIds, { text: 'y'.repeat(1024), media: { path: `${me}/doc.pdf`, kind: 'document' } });
    await create(me, t.owner.channelIds, { text: 'y'.repeat(4096) });
  });

  it('takes media from a template, whose own rules hold on insert', async () => {
    const me = t.owner.userId;
    await upload(me, `${me}/v.mp4`, 'video/mp4');
    const bad = await sqlError(t.client, me, (c) =>
      c.query(
        `insert into public.templates (name, text, media_path, media_kind) values ('t1', 'hi', $1, 'photo')`,
        [`${me}/v.mp4`],
      ));
    expect(fieldOf(bad)).toBe('media.kind');
    const tpl = await asUser(t.client, me, async (c) =>
      (await c.query(
        `insert into public.templates (name, text, media_path, media_kind) values ('t2', 'hi {{x}}', $1, 'video') returning id`,
        [`${me}/v.mp4`],
      )).rows[0].id);
    const c = await asUser(t.client, me, async (cl) =>
      (await cl.query(
        `select * from public.create_campaign(p_name => 'm', p_channel_ids => $1::uuid[], p_template_id => $2, p_variables => '{"x":"y"}')`,
        [t.owner.channelIds, tpl],
      )).rows[0]);
    expect(c).toMatchObject({ media_kind: 'video', message_text: 'hi y' });
  });
});

describe('test_campaign', () => {
  it('queues a job in the account queue, makes no delivery, and worker_take hands it out as a test', async () => {
    const me = t.owner.userId;
    const c = await create(me, t.owner.channelIds, { text: 'try me' });
    const before =
      (await t.client.query('select count(*)::int as n from public.deliveries where campaign_id = $1', [c.id])).rows[0].n;
    const test = await asUser(
      t.client,
      me,
      async (cl) => (await cl.query('select * from public.test_campaign($1)', [c.id])).rows[0],
    );
    expect(test).toMatchObject({ state: 'pending', peer: 'me', channel_id: null });
    const after =
      (await t.client.query('select count(*)::int as n from public.deliveries where campaign_id = $1', [c.id])).rows[0].n;
    expect(after).toBe(before);

    const rows = await takeAll(t.owner.accountId);
    const row = rows.find((r) => r.delivery_id === test.id);
    expect(row).toMatchObject({ action: 'test', peer: 'me', message_text: 'try me', random_id: test.random_id });
    await asServiceRole(t.client, (cl) =>
      cl.query('select public.worker_record_tests($1)', [JSON.stringify([
        { deliveryId: test.id, jobId: row.job_id, accountId: t.owner.accountId, outcome: 'sent', messageId: 77 },
      ])]));
    const done =
      (await t.client.query('select state, telegram_message_id from public.campaign_test_sends where id = $1', [test.id]))
        .rows[0];
    expect(done).toEqual({ state: 'sent', telegram_message_id: '77' });
    const job = (await t.client.query('select state from pgboss.job where id = $1', [row.job_id])).rows[0];
    expect(job.state).toBe('completed');
  });

  it("sends to a channel of the user, refuses another user's channel and an account in FLOOD_WAIT", async () => {
    const me = t.owner.userId;
    const c = await create(me, t.owner.channelIds, { text: 'x' });
    const test = await asUser(
      t.client,
      me,
      async (cl) => (await cl.query('select * from public.test_campaign($1, $2)', [c.id, t.owner.channelIds[0]])).rows[0],
    );
    expect(test.peer).toBe('@chan_media_1');
    const other = await makeOwner(t.db, t.client, 1, 'media3');
    const e1 = await sqlError(t.client, me, (cl) => cl.query('select public.test_campaign($1, $2)', [c.id, other.channelIds[0]]));
    expect({ code: e1.code, field: fieldOf(e1) }).toEqual({ code: 'PT422', field: 'channelId' });
    const e2 = await sqlError(t.client, other.userId, (cl) => cl.query('select public.test_campaign($1)', [c.id]));
    expect(e2.code).toBe('PT404');
    await asServiceRole(t.client, (cl) => cl.query('select public.worker_flood_wait($1, 30)', [t.owner.accountId]));
    const e3 = await sqlError(t.client, me, (cl) => cl.query('select public.test_campaign($1)', [c.id]));
    expect(e3.code).toBe('PT409');
    expect(e3.message).toMatch(/FLOOD_WAIT/);
  });
});

/** worker_take for one account, holding its advisory lock on this connection as the worker does. */
async function takeAll(accountId: string) {
  const pid = (await t.client.query('select pg_backend_pid() as p')).rows[0].p;
  await t.client.query('select pg_advisory_lock(29799, hashtext($1))', [accountId]);
  try {
    return await asServiceRole(t.client, async (c) =>
      (await c.query(
        'select * from public.worker_take($1, $2::jsonb, 6)',
        [pid, JSON.stringify([{ accountId, limit: 10 }])],
      )).rows);
  } finally {
    await t.client.query('select pg_advisory_unlock(29799, hashtext($1))', [accountId]);
  }
}

describe('object names (migration 20261206100000)', () => {
  it("refuses, as authenticated, an object and a campaign or template whose path climbs into another user's folder", async () => {
    const me = t.owner.userId;
    const victim = await makeOwner(t.db, t.client, 1, 'victim');
    await upload(victim.userId, `${victim.userId}/secret.txt`, 'text/plain');
    const climbing = `${me}/../${victim.userId}/secret.txt`;
    // Its first folder is mine, so the owner-folder policy alone lets it through.
    const row = await sqlError(
      t.client,
      me,
      (c) => c.query(`insert into storage.objects (bucket_id, name, owner_id) values ('campaign-media', $1, $2)`, [climbing, me]),
    );
    expect({ code: row.code, message: row.message }).toEqual({
      code: 'PT400',
      message: 'invalid object name: it has a ".." segment',
    });
    const e = await sqlError(t.client, me, (c) =>
      c.query(
        `select public.create_campaign(p_name => 'm', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
        [t.owner.channelIds, JSON.stringify({ text: 'x', media: { path: climbing, kind: 'document' } })],
      ));
    expect({ code: e.code, field: fieldOf(e) }).toEqual({ code: 'PT422', field: 'message.media.path' });
    expect(e.message).toMatch(/not a valid object name: it has a "\.\." segment/);
    const tpl = await sqlError(
      t.client,
      me,
      (c) =>
        c.query(`insert into public.templates (name, text, media_path, media_kind) values ('t', 'x', $1, 'document')`, [
          climbing,
        ]),
    );
    expect({ code: tpl.code, field: fieldOf(tpl) }).toEqual({ code: 'PT422', field: 'media.path' });
  });

  it('refuses empty, . and .. segments, controls, bidi marks and long segments, whoever writes', async () => {
    const me = t.owner.userId;
    const bad = [
      `${me}//x.jpg`,
      `${me}/./x.jpg`,
      `${me}/x.jpg/`,
      `${me}/a\u0001b.jpg`,
      `${me}/gpj\u202e.exe`,
      `${me}/${'a'.repeat(256)}`,
      `${me}/${'é'.repeat(128)}`, // 256 bytes
      `${me}/a%2e.jpg`,
    ];
    for (const name of bad) {
      const e = await t.client.query(
        `insert into storage.objects (bucket_id, name, owner_id) values ('campaign-media', $1, $2)`,
        [name, me],
      ).catch((err: { code: string }) => err);
      expect((e as { code?: string }).code, name).toBe('PT400');
    }
    // 255 bytes in one segment, and a name of many languages, are fine.
    await upload(me, `${me}/${'é'.repeat(127)}x`, 'text/plain');
    await upload(me, `${me}/Ünïcødé 望 😀 (1).txt`, 'text/plain');
  });
});

describe('campaigns that already held such a path when the migration ran', () => {
  it('are cancelled, their pending deliveries and test sends failed with MEDIA_PATH_INVALID', async () => {
    const u = await makeOwner(t.db, t.client, 3, 'legacy');
    await upload(u.userId, `${u.userId}/doc.pdf`, 'application/pdf');
    const c = await create(u.userId, u.channelIds, { text: 'x', media: { path: `${u.userId}/doc.pdf`, kind: 'document' } });
    await asUser(t.client, u.userId, async (cl) => {
      await cl.query('select public.start_campaign($1)', [c.id]);
      await cl.query('select public.test_campaign($1)', [c.id]);
    });
    // The row as an attacker left it before the checks existed (they refuse it now).
    await t.client.query('begin');
    await t.client.query('alter table public.campaigns disable trigger campaigns_media_path');
    await t.client.query('update public.campaigns set media_path = $2 where id = $1', [c.id, `${u.userId}/../x/doc.pdf`]);
    await t.client.query('alter table public.campaigns enable trigger campaigns_media_path');
    await t.client.query('commit');
    // The migration's step for existing rows, as it ran on deploy.
    const migration = readFileSync('supabase/migrations/20261206100000_media_object_names.sql', 'utf8');
    await t.client.query(migration.slice(migration.lastIndexOf('do $$')));

    const after = (await t.client.query(
      'select state, pending_count, failed_count, total_count from public.campaigns where id = $1',
      [c.id],
    )).rows[0];
    expect(after).toEqual({ state: 'cancelled', pending_count: 0, failed_count: 3, total_count: 3 });
    const codes = await t.client.query(
      `select distinct error_code from public.deliveries where campaign_id = $1
      union select distinct error_code from public.campaign_test_sends where campaign_id = $1`,
      [c.id],
    );
    expect(codes.rows).toEqual([{ error_code: 'MEDIA_PATH_INVALID' }]);
    const jobs = await t.client.query(
      `select count(*)::int as n from pgboss.job where group_id = $1 and state in ('created', 'retry')`,
      [c.id],
    );
    expect(jobs.rows[0].n).toBe(0);
  });
});

describe('file facts and the storage quota (migration 20261206100000)', () => {
  it("lets authenticated change no object's size or type: a big photo stays refused", async () => {
    const me = t.owner.userId;
    await upload(me, `${me}/huge.jpg`, 'image/jpeg', 12 * 1024 * 1024);
    const facts = () =>
      t.client.query(`select metadata from storage.objects where name = $1`, [`${me}/huge.jpg`]).then((r) => r.rows);
    await asUser(
      t.client,
      me,
      (c) =>
        c.query(`update storage.objects set metadata = '{"mimetype":"image/jpeg","size":1000}' where name = $1`, [
          `${me}/huge.jpg`,
        ]),
    );
    expect(await facts()).toEqual([{ metadata: { mimetype: 'image/jpeg', size: 12 * 1024 * 1024 } }]);
    // Hosted Storage's permission test before a replacement (an upsert with a new version and
    // owner, as the user) still passes, and leaves the facts alone too.
    await asUser(t.client, me, (c) =>
      c.query(
        `insert into storage.objects (bucket_id, name, version, owner, metadata) values ('campaign-media', $1, '1', $2, '{}')
        on conflict (bucket_id, name) do update set version = excluded.version, owner = excluded.owner,
          metadata = excluded.metadata`,
        [`${me}/huge.jpg`, me],
      ));
    expect(await facts()).toEqual([{ metadata: { mimetype: 'image/jpeg', size: 12 * 1024 * 1024 } }]);
    const photo = await sqlError(t.client, me, (c) =>
      c.query(
        `select public.create_campaign(p_name => 'm', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
        [t.owner.channelIds, JSON.stringify({ text: 'x', media: { path: `${me}/huge.jpg`, kind: 'photo' } })],
      ));
    expect(photo.message).toMatch(/the file is 12582912 bytes: a photo may have at most 10 MB/);
    // Its own insert carries no facts (the server writes them), so it names no usable file.
    await asUser(t.client, me, (c) =>
      c.query(
        `insert into storage.objects (bucket_id, name, owner_id, metadata) values ('campaign-media', $1, $2, $3)`,
        [`${me}/forged.jpg`, me, { mimetype: 'image/jpeg', size: 1000 }],
      ));
    const forged = await t.client.query(`select metadata from storage.objects where name = $1`, [`${me}/forged.jpg`]);
    expect(forged.rows).toEqual([{ metadata: null }]);
    const unusable = await sqlError(t.client, me, (c) =>
      c.query(
        `select public.create_campaign(p_name => 'm', p_channel_ids => $1::uuid[], p_message => $2::jsonb)`,
        [t.owner.channelIds, JSON.stringify({ text: 'x', media: { path: `${me}/forged.jpg`, kind: 'photo' } })],
      ));
    expect(fieldOf(unusable)).toBe('message.media.path');
    // A move within the own folder is still the user's to make.
    await asUser(
      t.client,
      me,
      (c) => c.query(`update storage.objects set name = $2 where name = $1`, [`${me}/huge.jpg`, `${me}/moved.jpg`]),
    );
  });

  it('holds each user to a number of files and of bytes, whoever writes', async () => {
    const u = await makeOwner(t.db, t.client, 1, 'quota');
    await t.client.query(
      `insert into private.quota_overrides (owner_id, name, value) values ($1, 'storage_objects', 2), ($1, 'storage_bytes', 5000)`,
      [u.userId],
    );
    await upload(u.userId, `${u.userId}/a.bin`, 'application/octet-stream', 3000);
    const bytes = await t.client.query(
      `insert into storage.objects (bucket_id, name, owner_id, metadata) values ('campaign-media', $1, $2, $3)`,
      [`${u.userId}/b.bin`, u.userId, { mimetype: 'application/octet-stream', size: 2001 }],
    ).catch((e: { code: string; detail: string }) => e);
    expect(bytes).toMatchObject({ code: 'PT422', detail: expect.stringContaining('"quota": "storage_bytes"') });
    await upload(u.userId, `${u.userId}/b.bin`, 'application/octet-stream', 2000);
    const third = await sqlError(
      t.client,
      u.userId,
      (c) =>
        c.query(`insert into storage.objects (bucket_id, name, owner_id) values ('campaign-media', $1, $2)`, [
          `${u.userId}/c.bin`,
          u.userId,
        ]),
    );
    expect({ code: third.code, quota: JSON.parse(third.detail ?? '{}').quota }).toEqual({
      code: 'PT422',
      quota: 'storage_objects',
    });
    // Replacing a file counts its new size instead of its old one.
    await t.client.query(`update storage.objects set metadata = $2 where name = $1`, [`${u.userId}/a.bin`, { size: 3000 }]);
    const grown = await t.client.query(`update storage.objects set metadata = $2 where name = $1`, [`${u.userId}/a.bin`, {
      size: 3001,
    }]).catch((e: { code: string }) => e);
    expect((grown as { code?: string }).code).toBe('PT422');
  });
});
