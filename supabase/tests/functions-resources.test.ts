// Channels, batches, templates and accounts over HTTP: success paths, 4xx with the error body,
// pagination, and isolation between two users (B sees 404 for every one of A's resources).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
let a: User;
let b: User;
beforeAll(async () => {
  api = await startApi();
  [a, b] = [await api.newUser(), await api.newUser()];
});
afterAll(async () => {
  await api?.stop();
});

const missing = '00000000-0000-4000-8000-000000000000';

describe('channels', () => {
  it('creates a channel with the normalised peer, and refuses the same channel spelled differently', async () => {
    const r = await a.call('POST', '/channels', { peer: 'https://t.me/Durov_News', title: 'News', tags: ['news'] });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ peer: '@durov_news', peerKind: 'username', title: 'News', tags: ['news'], telegramId: null });
    const dup = await a.call('POST', '/channels', { peer: '@DUROV_NEWS' });
    expectErrorShape(dup, 409, 'conflict');
    expect(dup.body.error.issues[0].path).toEqual(['peer']);
    // another user may have the same channel
    expect((await b.call('POST', '/channels', { peer: '@durov_news' })).status).toBe(201);
  });

  it('answers 422 naming the field for a bad peer, bad types and unknown fields', async () => {
    const bad = await a.call('POST', '/channels', { peer: 'not a peer!' });
    expectErrorShape(bad, 422, 'validation_failed');
    expect(bad.body.error.issues[0].path).toEqual(['peer']);
    const types = await a.call('POST', '/channels', { peer: 5, tags: 'x' });
    expectErrorShape(types, 422);
    expect(types.body.error.issues.map((i: any) => i.path[0]).sort()).toEqual(['peer', 'tags']);
    const extra = await a.call('POST', '/channels', { peer: '@valid_name', owner_id: b.id });
    expectErrorShape(extra, 422);
    expect(extra.body.error.message).toMatch(/owner_id/);
    expectErrorShape(await a.call('POST', '/channels', {}), 422);
    expectErrorShape(await a.call('POST', '/channels', '{"peer":'), 400, 'bad_request');
    expectErrorShape(await a.call('POST', '/channels'), 400, 'bad_request');
  });

  it('imports peers in bulk with per-item errors and no duplicates', async () => {
    const r = await a.call('POST', '/channels/import', {
      peers: ['@import_one', 't.me/import_one', 'https://t.me/+AbCdEfGh12', '-1001234567890', 'bad peer', ''],
    });
    expect(r.status).toBe(200);
    expect(r.body.created).toBe(3);
    expect(r.body.duplicates).toBe(1);
    expect(r.body.errors.map((e: any) => e.index)).toEqual([4, 5]);
    expect(r.body.errors[0]).toMatchObject({ peer: 'bad peer', message: expect.stringMatching(/not a Telegram peer/) });
    const tooMany = await a.call('POST', '/channels/import', { peers: Array.from({ length: 1001 }, (_, i) => `@peer_${i}_x`) });
    expectErrorShape(tooMany, 413, 'payload_too_large');
    expect(tooMany.body.error.issues[0].path).toEqual(['peers']);
  });

  it('gets, patches, lists with a cursor and a tag filter, and deletes', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await a.call('POST', '/channels', { peer: `@page_chan_${i}`, tags: ['paged'] })).body);
    const got = await a.call('GET', `/channels/${made[0].id}`);
    expect(got.body).toEqual(made[0]);
    const patched = await a.call('PATCH', `/channels/${made[0].id}`, { title: 'Renamed', tags: ['paged', 'x'] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'Renamed', tags: ['paged', 'x'], peer: '@page_chan_0' });
    expectErrorShape(await a.call('PATCH', `/channels/${made[0].id}`, {}), 422);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await a.call('GET', `/channels?tag=paged&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((c: any) => c.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(made.map((c) => c.id).reverse()); // newest first, each once
    expectErrorShape(await a.call('GET', '/channels?cursor=garbage'), 422);
    expectErrorShape(await a.call('GET', '/channels?limit=0'), 422);
    expectErrorShape(await a.call('GET', '/channels?limit=101'), 422);

    expect((await a.call('DELETE', `/channels/${made[4].id}`)).status).toBe(204);
    expectErrorShape(await a.call('GET', `/channels/${made[4].id}`), 404, 'not_found');
    expectErrorShape(await a.call('DELETE', `/channels/${made[4].id}`), 404);
    expectErrorShape(await a.call('GET', '/channels/not-a-uuid'), 422);
  });
});

describe('batches', () => {
  it('creates with channels, replaces them, renames, refuses unknown channels and duplicates', async () => {
    const c1 = (await a.call('POST', '/channels', { peer: '@batch_chan_1' })).body;
    const c2 = (await a.call('POST', '/channels', { peer: '@batch_chan_2' })).body;
    const made = await a.call('POST', '/batches', { name: 'Batch A', channelIds: [c1.id, c2.id] });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: 'Batch A', channelCount: 2 });
    expect(made.body).not.toHaveProperty('channelIds'); // a summary; members are paged below
    const members = await a.call('GET', `/batches/${made.body.id}/channels`);
    expect(members.body.items.map((x: any) => x.id).sort()).toEqual([c1.id, c2.id].sort());
    expectErrorShape(await a.call('POST', '/batches', { name: 'Batch A' }), 409, 'conflict');

    const set = await a.call('PUT', `/batches/${made.body.id}/channels`, { channelIds: [c2.id] });
    expect(set.body).toMatchObject({ channelCount: 1 });
    expect((await a.call('GET', `/batches/${made.body.id}/channels`)).body.items.map((x: any) => x.id)).toEqual([c2.id]);
    expectErrorShape(await a.call('PUT', `/batches/${made.body.id}/channels`, { channelIds: [missing] }), 422);
    expectErrorShape(await a.call('PUT', `/batches/${missing}/channels`, { channelIds: [] }), 404);
    expectErrorShape(await a.call('POST', '/batches', { name: 'B', channelIds: [missing] }), 422);

    expect((await a.call('PATCH', `/batches/${made.body.id}`, { name: 'Batch B' })).body.name).toBe('Batch B');
    const list = await a.call('GET', '/batches');
    expect(list.body.items.map((x: any) => x.id)).toContain(made.body.id);
    expect((await a.call('DELETE', `/batches/${made.body.id}`)).status).toBe(204);
    expect((await a.call('GET', `/channels/${c2.id}`)).status).toBe(200); // channels stay
  });
});

describe('templates', () => {
  it('creates, previews with variables, patches and deletes', async () => {
    const t = await a.call('POST', '/templates', { name: 'Greeting', text: 'Hello {{name}}, see {{ link }}', parseMode: 'html' });
    expect(t.status).toBe(201);
    expect(t.body).toMatchObject({ parseMode: 'html', silent: false, linkPreview: true });
    const p = await a.call('POST', `/templates/${t.body.id}/preview`, { variables: { name: 'Ann' } });
    expect(p.body).toEqual({ text: 'Hello Ann, see {{ link }}', missing: ['link'] });
    const full = await a.call('POST', `/templates/${t.body.id}/preview`, { variables: { name: 'Ann', link: 'x.y' } });
    expect(full.body).toEqual({ text: 'Hello Ann, see x.y', missing: [] });
    expectErrorShape(await a.call('POST', `/templates/${t.body.id}/preview`, { variables: ['a'] }), 422);
    expectErrorShape(await a.call('POST', `/templates/${missing}/preview`, {}), 404);

    expectErrorShape(await a.call('POST', '/templates', { name: 'x', text: 'y'.repeat(4097), parseMode: 'plain' }), 422);
    const badMode = await a.call('POST', '/templates', { name: 'x', text: 'y', parseMode: 'rtf' });
    expectErrorShape(badMode, 422);
    expect(badMode.body.error.issues[0].path).toEqual(['parseMode']);

    expect((await a.call('PATCH', `/templates/${t.body.id}`, { silent: true })).body.silent).toBe(true);
    expect((await a.call('GET', '/templates')).body.items).toHaveLength(1);
    expect((await a.call('DELETE', `/templates/${t.body.id}`)).status).toBe(204);
  });
});

describe('accounts', () => {
  it('creates with a pace, never takes a session, patches, lists and deletes', async () => {
    const acc = await a.call('POST', '/accounts', { label: 'Main', ratePerMinute: 30 });
    expect(acc.status).toBe(201);
    expect(acc.body).toMatchObject({ label: 'Main', status: 'active', floodWaitUntil: null, ratePerMinute: 30 });
    expect(JSON.stringify(acc.body)).not.toMatch(/session/i);
    const withSession = await a.call('POST', '/accounts', { label: 'X', session: '1AAbbCC' });
    expectErrorShape(withSession, 422);
    expect(withSession.body.error.message).toMatch(/session/);
    expect(JSON.stringify(withSession.body)).not.toMatch(/1AAbbCC/);
    expectErrorShape(await a.call('PATCH', `/accounts/${acc.body.id}`, { status: 'active' }), 422);
    expectErrorShape(await a.call('POST', '/accounts', { label: 'Y', ratePerMinute: 0 }), 422);
    expect((await a.call('PATCH', `/accounts/${acc.body.id}`, { ratePerMinute: 45 })).body.ratePerMinute).toBe(45);
    expect((await a.call('GET', '/accounts')).body.items.map((x: any) => x.id)).toEqual([acc.body.id]);
    expect((await a.call('DELETE', `/accounts/${acc.body.id}`)).status).toBe(204);
  });
});

describe('two users', () => {
  it("gives B a 404 for every one of A's resources, and changes nothing of A's", async () => {
    const ch = (await a.call('POST', '/channels', { peer: '@only_for_a' })).body;
    const batch = (await a.call('POST', '/batches', { name: 'A only', channelIds: [ch.id] })).body;
    const tpl = (await a.call('POST', '/templates', { name: 'A', text: 'hi', parseMode: 'plain' })).body;
    const acc = (await a.call('POST', '/accounts', { label: 'A acc' })).body;
    const camp =
      (await a.call('POST', '/campaigns', { name: 'A camp', message: { text: 'x' }, channelIds: [ch.id], accountId: acc.id }))
        .body;
    expect(camp.state).toBe('draft');
    const before = await api.fingerprint();

    const calls: [string, string, unknown?][] = [
      ['GET', `/channels/${ch.id}`],
      ['PATCH', `/channels/${ch.id}`, { title: 't' }],
      ['DELETE', `/channels/${ch.id}`],
      ['GET', `/batches/${batch.id}`],
      ['PATCH', `/batches/${batch.id}`, { name: 'n' }],
      ['DELETE', `/batches/${batch.id}`],
      ['PUT', `/batches/${batch.id}/channels`, { channelIds: [] }],
      ['GET', `/batches/${batch.id}/channels`],
      ['GET', `/templates/${tpl.id}`],
      ['PATCH', `/templates/${tpl.id}`, { name: 'n' }],
      ['DELETE', `/templates/${tpl.id}`],
      ['POST', `/templates/${tpl.id}/preview`, {}],
      ['GET', `/accounts/${acc.id}`],
      ['PATCH', `/accounts/${acc.id}`, { label: 'n' }],
      ['DELETE', `/accounts/${acc.id}`],
      ['GET', `/campaigns/${camp.id}`],
      ['GET', `/campaigns/${camp.id}/deliveries`],
      ...['start', 'pause', 'resume', 'cancel', 'retry-failed'].map((x) =>
        ['POST', `/campaigns/${camp.id}/${x}`] as [string, string]
      ),
    ];
    for (const [method, path, body] of calls) {
      const r = await b.call(method, path, body);
      expectErrorShape(r, 404, 'not_found');
    }
    for (const list of ['/channels', '/batches', '/templates', '/accounts', '/campaigns']) {
      const r = await b.call('GET', list);
      const ids = r.body.items.map((x: any) => x.id);
      expect(ids).not.toContain(ch.id);
      for (const id of [batch.id, tpl.id, acc.id, camp.id]) expect(ids).not.toContain(id);
    }
    // B cannot use A's things by reference either (422: unknown to B), nor claim A's id as owner.
    expectErrorShape(await b.call('POST', '/campaigns', { name: 'steal', templateId: tpl.id, channelIds: [ch.id] }), 422);
    expectErrorShape(await b.call('POST', '/batches', { name: 'steal', channelIds: [ch.id] }), 422);
    expect(await api.fingerprint()).toEqual(before);
  });
});
