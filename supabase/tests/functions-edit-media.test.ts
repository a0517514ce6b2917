// PATCH /campaigns/{id}/message with `media` over HTTP (real Deno functions): a sent photo
// campaign takes a new file of its owner's (a new version, every sent post to edit, the
// Telegram uploads of the old file dropped); what Telegram cannot do by an edit (remove the media,
// give a text post media) and what creation refuses (another user's file, a wrong kind, a long
// caption) answer 422 naming the field and write nothing, for the API and for the RPC alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asUser, withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
let other: User;
let channelIds: string[];

/** The row the Storage server writes for an upload, with the file facts it stores. */
const upload = (u: User, name: string, mimetype = 'image/jpeg') =>
  withClient(api.db.url, async (c) => {
    await asUser(c, u.id, (tx) =>
      tx.query(`insert into storage.objects (bucket_id, name, owner_id) values ('campaign-media', $1, $2)`, [
        `${u.id}/${name}`,
        u.id,
      ]));
    await c.query(`update storage.objects set metadata = $2 where name = $1`, [`${u.id}/${name}`, { mimetype, size: 5000 }]);
  });

beforeAll(async () => {
  api = await startApi();
  a = await api.newUser();
  other = await api.newUser();
  await a.call('POST', '/accounts', { label: 'Sender', ratePerMinute: 60 });
  await a.call('POST', '/channels/import', { peers: ['@em_1', '@em_2'] });
  channelIds = (await a.call('GET', '/channels?limit=100')).body.items.map((c: any) => c.id);
  await upload(a, 'v1.jpg');
  await upload(a, 'v2.jpg');
  await upload(a, 'notes.pdf', 'application/pdf');
  await upload(other, 'theirs.jpg');
});
afterAll(async () => {
  await api?.stop();
});

/** A started campaign whose deliveries the worker recorded as sent (and its upload stored). */
async function sent(media?: { path: string; kind: string }) {
  const r = await a.call('POST', '/campaigns', { name: 'M', message: { text: 'v1', ...(media && { media }) }, channelIds });
  expect(r.status).toBe(201);
  await a.call('POST', `/campaigns/${r.body.id}/start`);
  await withClient(api.db.url, async (sql) => {
    await sql.query(
      `update public.deliveries set state = 'sent', sent_at = now(), telegram_message_id = 5 where campaign_id = $1`,
      [r.body.id],
    );
    await sql.query(
      `insert into private.campaign_media_refs (campaign_id, account_id, ref)
       select id, account_id, '{"kind":"photo"}' from public.campaigns where id = $1 and media_path is not null`,
      [r.body.id],
    );
  });
  return r.body;
}

const photo = (name: string) => ({ path: `${a.id}/${name}`, kind: 'photo' });
const refs = (id: string) =>
  withClient(
    api.db.url,
    async (c) =>
      (await c.query('select count(*)::int as n from private.campaign_media_refs where campaign_id = $1', [id])).rows[0].n,
  );

describe('PATCH /campaigns/:id/message with media', () => {
  it('a photo campaign takes a new photo and caption: a new version, an edit per sent post, the old upload dropped', async () => {
    const c = await sent(photo('v1.jpg'));
    expect(await refs(c.id)).toBe(1);
    const r = await a.call('PATCH', `/campaigns/${c.id}/message`, { text: 'v2 caption', media: photo('v2.jpg') });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      message: { text: 'v2 caption', version: 2, media: { ...photo('v2.jpg'), mimeType: 'image/jpeg', size: 5000 } },
      actions: { pending: 2 },
    });
    expect(await refs(c.id)).toBe(0);
    // The same file again is no change; a document in place of the photo is one.
    const same = await a.call('PATCH', `/campaigns/${c.id}/message`, { text: 'v2 caption', media: photo('v2.jpg') });
    expect(same.body.message.version).toBe(2);
    const doc = await a.call('PATCH', `/campaigns/${c.id}/message`, {
      text: 'v3',
      media: { path: `${a.id}/notes.pdf`, kind: 'document' },
    });
    expect(doc.body.message).toMatchObject({ version: 3, media: { kind: 'document', mimeType: 'application/pdf' } });
  });

  it('answers 422 naming the field and writes nothing: removal, media for a text campaign, the rules of creation', async () => {
    const withMedia = await sent(photo('v1.jpg'));
    const text = await sent();
    const fp = await api.fingerprint();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [withMedia.id, { text: 'v2', media: null }, 'media'],
      [text.id, { text: 'v2', media: photo('v2.jpg') }, 'media'],
      [withMedia.id, { text: 'v2', media: { path: `${other.id}/theirs.jpg`, kind: 'photo' } }, 'media.path'],
      [withMedia.id, { text: 'v2', media: photo('missing.jpg') }, 'media.path'],
      [withMedia.id, { text: 'v2', media: { path: `${a.id}/notes.pdf`, kind: 'photo' } }, 'media.kind'],
      [withMedia.id, { text: 'v2', media: { ...photo('v2.jpg'), kind: 'sticker' } }, 'media.kind'],
      [withMedia.id, { text: 'x'.repeat(1025) }, 'text'],
      [withMedia.id, { text: 'x'.repeat(1025), media: photo('v2.jpg') }, 'text'],
    ];
    for (const [id, body, path] of cases) {
      const r = await a.call('PATCH', `/campaigns/${id}/message`, body);
      expectErrorShape(r, 422);
      const got = r.body.error.issues?.[0]?.path.join('.');
      expect({ body: JSON.stringify(body).slice(0, 80), path: got }).toEqual({ body: JSON.stringify(body).slice(0, 80), path });
    }
    const removal = await a.call('PATCH', `/campaigns/${withMedia.id}/message`, { text: 'v2', media: null });
    expect(removal.body.error.issues[0].message).toContain('cannot be removed by an edit');
    expect(await api.fingerprint()).toEqual(fp);
  });

  it('the RPC holds the same rules for every caller, saying why Telegram cannot', async () => {
    const withMedia = await sent(photo('v1.jpg'));
    const text = await sent();
    const call = (id: string, body: unknown) =>
      withClient(
        api.db.url,
        (c) =>
          asUser(c, a.id, (tx) => tx.query('select public.edit_campaign_message($1, $2::jsonb)', [id, JSON.stringify(body)])),
      )
        .then(
          () => null,
          (e: { message: string; detail?: string }) => ({ message: e.message, field: JSON.parse(e.detail!).field }),
        );
    const fp = await api.fingerprint();
    expect(await call(withMedia.id, { text: 'v2', media: null })).toEqual({
      field: 'media',
      message: expect.stringContaining('cannot be removed by an edit'),
    });
    expect(await call(text.id, { text: 'v2', media: photo('v2.jpg') })).toEqual({
      field: 'media',
      message: expect.stringContaining('MEDIA_PREV_INVALID'),
    });
    expect(await call(withMedia.id, { text: 'v2', media: { path: `${other.id}/theirs.jpg`, kind: 'photo' } }))
      .toMatchObject({ field: 'media.path' });
    expect(await api.fingerprint()).toEqual(fp);
  });
});
