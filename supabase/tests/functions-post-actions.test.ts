// Actions on sent posts over HTTP: deleteAfter and pin at creation and through PATCH, PATCH
// /campaigns/:id/message (a new version, every sent post to edit), delete-posts, pin, unpin and
// actions/cancel answering the campaign with its action counts; 422 naming the field and 409/404
// change nothing; each delivery shows the latest action on its post.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
let channelIds: string[];
beforeAll(async () => {
  api = await startApi();
  a = await api.newUser();
  await a.call('POST', '/accounts', { label: 'Sender', ratePerMinute: 60 });
  await a.call('POST', '/channels/import', { peers: ['@act_1', '@act_2', '@act_3'] });
  channelIds = (await a.call('GET', '/channels?limit=100')).body.items.map((c: any) => c.id);
});
afterAll(async () => {
  await api?.stop();
});

const create = async (extra: Record<string, unknown> = {}) => {
  const r = await a.call('POST', '/campaigns', { name: 'Posts', message: { text: 'v1' }, channelIds, ...extra });
  expect(r.status).toBe(201);
  return r.body;
};

/** A started campaign whose deliveries the worker recorded as sent. */
const sent = async (extra: Record<string, unknown> = {}) => {
  const c = await create(extra);
  await a.call('POST', `/campaigns/${c.id}/start`);
  await withClient(api.db.url, (sql) =>
    sql.query(
      `update public.deliveries set state = 'sent', sent_at = now(), telegram_message_id = 5 where campaign_id = $1`,
      [c.id],
    ));
  return c;
};

const noActions = { edited: 0, deleted: 0, pinned: 0, unpinned: 0, pending: 0, failed: {} };

describe('standing actions at creation and through PATCH', () => {
  it('keeps deleteAfter and pin as ISO 8601 durations (normalized), and clears them with null', async () => {
    const c = await create({ deleteAfter: 'PT24H', pin: { silent: true, unpinAfter: 'PT90M' } });
    expect(c).toMatchObject({
      deleteAfter: 'P1D',
      pin: { silent: true, unpinAfter: 'PT1H30M' },
      actions: noActions,
      message: { version: 1 },
    });
    const r = await a.call('PATCH', `/campaigns/${c.id}`, { name: 'Renamed', deleteAfter: null, pin: null });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'Renamed', deleteAfter: null, pin: null });
  });

  it('answers 422 naming the field and creates or changes nothing', async () => {
    const c = await create();
    const before = await api.fingerprint();
    for (
      const [body, path] of [
        [{ deleteAfter: 'tomorrow' }, 'deleteAfter'],
        [{ deleteAfter: 'P400D' }, 'deleteAfter'],
        [{ pin: { unpinAfter: 'PT0S' } }, 'pin.unpinAfter'],
        [{ pin: { loud: true } }, 'pin.loud'],
      ] as const
    ) {
      for (
        const r of [
          await a.call('POST', '/campaigns', { name: 'x', message: { text: 'x' }, channelIds, ...body }),
          await a.call('PATCH', `/campaigns/${c.id}`, body),
        ]
      ) {
        expectErrorShape(r, 422);
        expect({ body, path: r.body.error.issues?.[0]?.path.join('.') }).toEqual({ body, path });
      }
    }
    expect(await api.fingerprint()).toEqual(before);
  });
});

describe('PATCH /campaigns/:id/message and the post actions', () => {
  it('a new version: every sent post gets an edit, shown on its delivery; 422 and 409 change nothing', async () => {
    const draft = await create();
    const before = await api.fingerprint();
    expectErrorShape(await a.call('PATCH', `/campaigns/${draft.id}/message`, { text: 'v2' }), 409, 'illegal_transition');
    expect(await api.fingerprint()).toEqual(before);
    const c = await sent();
    const fp = await api.fingerprint();
    for (
      const [body, path] of [
        [{ text: '' }, 'text'],
        [{ text: 'v2', media: null }, 'media'],
        [{ text: 'v2', parseMode: 'rtf' }, 'parseMode'],
        [{ text: 'Hi {{name}}' }, 'text'],
      ] as const
    ) {
      const r = await a.call('PATCH', `/campaigns/${c.id}/message`, body);
      expectErrorShape(r, 422);
      expect({ body, path: r.body.error.issues?.[0]?.path.join('.') }).toEqual({ body, path });
    }
    expect(await api.fingerprint()).toEqual(fp);

    const r = await a.call('PATCH', `/campaigns/${c.id}/message`, { text: 'v2', linkPreview: false });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      state: 'completed',
      message: { text: 'v2', linkPreview: false, version: 2 },
      actions: { ...noActions, pending: 3 },
    });
    const d = await a.call('GET', `/campaigns/${c.id}/deliveries`);
    expect(d.body.items.map((x: any) => [x.actions.edit.state, x.actions.edit.version])).toEqual(
      Array(3).fill(['pending', 2]),
    );

    const pinned = await a.call('POST', `/campaigns/${c.id}/pin`, { silent: true });
    expect(pinned.body).toMatchObject({ pin: { silent: true, unpinAfter: null }, actions: { pending: 6 } });
    const unpinned = await a.call('POST', `/campaigns/${c.id}/unpin`);
    expect(unpinned.body).toMatchObject({ pin: null, actions: { pending: 3 } }); // the pins never ran: nothing to unpin
    const deleted = await a.call('POST', `/campaigns/${c.id}/delete-posts`);
    expect(deleted.body.actions).toMatchObject({ pending: 3 }); // a delete stops the rest
    const cancelled = await a.call('POST', `/campaigns/${c.id}/actions/cancel`);
    expect(cancelled.body.actions).toEqual(noActions);
  });

  it('unpin unpins only the posts pinned: a pin done and no unpin since', async () => {
    const c = await sent();
    const pinned = await a.call('POST', `/campaigns/${c.id}/pin`, {});
    expect(pinned.body.actions).toMatchObject({ pending: 3 });
    // The worker carried out the pins of two posts, then an unpin of the second; the third's pin never ran.
    const [first, second] = await withClient(api.db.url, async (sql) => {
      const { rows } = await sql.query(
        `update public.delivery_actions set state = 'done', done_at = clock_timestamp()
         where id in (select id from public.delivery_actions where campaign_id = $1 and kind = 'pin' order by id limit 2)
         returning delivery_id, owner_id`,
        [c.id],
      );
      await sql.query(
        `insert into public.delivery_actions (delivery_id, campaign_id, owner_id, kind, state, done_at)
         values ($1, $2, $3, 'unpin', 'done', clock_timestamp())`,
        [rows[1].delivery_id, c.id, rows[1].owner_id],
      );
      return rows.map((r) => r.delivery_id as string);
    });
    const r = await a.call('POST', `/campaigns/${c.id}/unpin`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ pin: null, actions: { pinned: 2, unpinned: 1, pending: 1 } });
    const unpins = await withClient(
      api.db.url,
      (sql) =>
        sql.query(
          `select delivery_id from public.delivery_actions where campaign_id = $1 and kind = 'unpin' and state = 'pending'`,
          [
            c.id,
          ],
        ),
    );
    expect(unpins.rows.map((x) => x.delivery_id)).toEqual([first]);
    expect(second).not.toBe(first);
  });

  it("answers 404 for another user's campaign", async () => {
    const c = await sent();
    const b = await api.newUser();
    const before = await api.fingerprint();
    for (
      const [method, path, body] of [['PATCH', 'message', { text: 'mine' }], ['POST', 'delete-posts'], [
        'POST',
        'pin',
        {},
      ]] as const
    ) {
      expectErrorShape(await b.call(method, `/campaigns/${c.id}/${path}`, body), 404, 'not_found');
    }
    expect(await api.fingerprint()).toEqual(before);
  });
});

describe('the action_requests quota', () => {
  it('past 60 an hour, an edit, delete or pin answers 429 naming it and writes nothing; drafts do not count', async () => {
    const u = await api.newUser();
    await u.call('POST', '/accounts', { label: 'Sender', ratePerMinute: 60 });
    await u.call('POST', '/channels/import', { peers: ['@quota_act_1'] });
    const ids = (await u.call('GET', '/channels?limit=100')).body.items.map((x: any) => x.id);
    const c = (await u.call('POST', '/campaigns', { name: 'Q', message: { text: 'v0' }, channelIds: ids })).body;
    // A draft has no posts: setting its pin is no action request.
    expect((await u.call('PATCH', `/campaigns/${c.id}`, { pin: { silent: true } })).status).toBe(200);
    expect((await u.call('PATCH', `/campaigns/${c.id}`, { pin: null })).status).toBe(200);
    await u.call('POST', `/campaigns/${c.id}/start`);
    await withClient(
      api.db.url,
      (sql) =>
        sql.query(
          `update public.deliveries set state = 'sent', sent_at = now(), telegram_message_id = 5 where campaign_id = $1`,
          [
            c.id,
          ],
        ),
    );
    const statuses = [];
    for (let i = 1; i <= 60; i++) statuses.push((await u.call('PATCH', `/campaigns/${c.id}/message`, { text: `v${i}` })).status);
    expect(statuses).toEqual(Array(60).fill(200));
    const before = await api.fingerprint();
    for (
      const [method, path, body] of [['PATCH', '/message', { text: 'v61' }], ['POST', '/delete-posts'], ['POST', '/pin', {}], [
        'POST',
        '/unpin',
      ], ['PATCH', '', { deleteAfter: 'PT1H' }]] as const
    ) {
      const r = await u.call(method, `/campaigns/${c.id}${path}`, body);
      expectErrorShape(r, 429, 'quota_exceeded');
      expect(r.body.error.details).toEqual({ quota: 'action_requests', limit: 60 });
    }
    expect(await api.fingerprint()).toEqual(before);
  });
});
