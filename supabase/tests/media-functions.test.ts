// Media and test sends over HTTP (real Deno functions): campaigns and templates with media, 422s
// naming message.media.path and the caption, and POST /campaigns/{id}/test answered once the
// worker (here: a test playing the worker through its RPCs) has recorded the send.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asServiceRole, asUser, withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
let accountId: string;
let channelId: string;
beforeAll(async () => {
  api = await startApi();
  a = await api.newUser();
  accountId = (await a.call('POST', '/accounts', { label: 'Sender', ratePerMinute: 60 })).body.id;
  channelId = (await a.call('POST', '/channels', { peer: '@media_target' })).body.id;
  // The row the Storage server writes when the user uploads (as the user: the bucket's policies apply).
  await withClient(api.db.url, async (c) => {
    await asUser(
      c,
      a.id,
      (tx) =>
        tx.query(`insert into storage.objects (bucket_id, name, owner_id) values ('campaign-media', $1, $2)`, [
          `${a.id}/launch.jpg`,
          a.id,
        ]),
    );
    // Its file facts, written by the server from the stored file.
    await c.query(`update storage.objects set metadata = $2 where name = $1`, [
      `${a.id}/launch.jpg`,
      { mimetype: 'image/jpeg', size: 5000 },
    ]);
  });
});
afterAll(async () => {
  await api?.stop();
});

const photo = () => ({ path: `${a.id}/launch.jpg`, kind: 'photo' });

describe('media over HTTP', () => {
  it('creates a photo campaign and a photo template', async () => {
    const r = await a.call('POST', '/campaigns', {
      name: 'P',
      message: { text: 'Look', media: photo() },
      channelIds: [channelId],
    });
    expect(r.status).toBe(201);
    expect(r.body.message.media).toEqual({ ...photo(), mimeType: 'image/jpeg', size: 5000 });
    expect(r.body.lastTest).toBeNull();
    const t = await a.call('POST', '/templates', { name: 'T', text: 'Hi', parseMode: 'plain', media: photo() });
    expect(t.status).toBe(201);
    expect(t.body.media).toEqual(photo());
    const cleared = await a.call('PATCH', `/templates/${t.body.id}`, { media: null });
    expect(cleared.body.media).toBeNull();
  });

  it('answers 422 naming message.media.path, message.media.kind and message.text', async () => {
    const other = await api.newUser();
    const cases: Array<[unknown, string]> = [
      [{ text: 'x', media: { path: `${a.id}/nope.jpg`, kind: 'photo' } }, 'message.media.path'],
      [{ text: 'x', media: { path: `${a.id}/launch.jpg`, kind: 'video' } }, 'message.media.kind'],
      [{ text: 'x'.repeat(1025), media: photo() }, 'message.text'],
    ];
    for (const [message, field] of cases) {
      const r = await a.call('POST', '/campaigns', { name: 'bad', message, channelIds: [channelId] });
      expectErrorShape(r, 422);
      expect(r.body.error.issues.map((i: { path: string[] }) => i.path.join('.'))).toContain(field);
    }
    await other.call('POST', '/accounts', { label: 'O' });
    const otherChannel = (await other.call('POST', '/channels', { peer: '@other_target' })).body.id;
    const theirs = await other.call('POST', '/campaigns', {
      name: 'steal',
      message: { text: 'x', media: photo() },
      channelIds: [otherChannel],
    });
    expectErrorShape(theirs, 422);
    expect(theirs.body.error.issues[0].path).toEqual(['message', 'media', 'path']);
  });
});

describe('POST /campaigns/{id}/test', () => {
  it('waits for the worker and answers with the Telegram message id; the campaign shows it', async () => {
    const c =
      (await a.call('POST', '/campaigns', { name: 'T', message: { text: 'Try', media: photo() }, channelIds: [channelId] })).body;
    const answer = a.call('POST', `/campaigns/${c.id}/test`, {});
    await playWorker(77);
    const r = await answer;
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ campaignId: c.id, peer: 'me', channelId: null, state: 'sent', telegramMessageId: '77' });
    const again = await a.call('GET', `/campaigns/${c.id}`);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.lastTest).toMatchObject({ id: r.body.id, state: 'sent' });
    expect(again.body.counts.total).toBe(1);
  });

  it("refuses during a FLOOD_WAIT (409) and a channel that is not the caller's (422)", async () => {
    const c = (await a.call('POST', '/campaigns', { name: 'F', message: { text: 'x' }, channelIds: [channelId] })).body;
    const bad = await a.call('POST', `/campaigns/${c.id}/test`, { channelId: '00000000-0000-4000-8000-000000000000' });
    expectErrorShape(bad, 422);
    expect(bad.body.error.issues[0].path).toEqual(['channelId']);
    await withClient(
      api.db.url,
      (cl) => asServiceRole(cl, (tx) => tx.query('select public.worker_flood_wait($1, 30)', [accountId])),
    );
    const r = await a.call('POST', `/campaigns/${c.id}/test`, {});
    expectErrorShape(r, 409);
    expect(r.body.error.message).toMatch(/FLOOD_WAIT/);
  });
});

/** Records the first queued test send as sent, as the worker does (worker_take, then worker_record_tests). */
async function playWorker(messageId: number): Promise<void> {
  await withClient(api.db.url, async (c) => {
    // Up to 20 s, as long as the function waits for the worker (a busy machine may be slow to queue it).
    for (const end = Date.now() + 20_000; Date.now() < end;) {
      const { rows } = await c.query(
        `select t.id, j.id as job_id from public.campaign_test_sends t
        join pgboss.job j on j.data ->> 'testSendId' = t.id::text where t.state = 'pending' and t.account_id = $1`,
        [accountId],
      );
      if (rows[0]) {
        await c.query(`update pgboss.job set state = 'active' where id = $1`, [rows[0].job_id]);
        await asServiceRole(c, (tx) =>
          tx.query('select public.worker_record_tests($1)', [JSON.stringify([
            { deliveryId: rows[0].id, jobId: rows[0].job_id, accountId, outcome: 'sent', messageId },
          ])]));
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no test send was queued');
  });
}
