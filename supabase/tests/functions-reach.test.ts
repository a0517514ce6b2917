// Reach over HTTP with a user's token: GET /campaigns/{id}/reach (totals, their history per round,
// the sent posts paged), POST /campaigns/{id}/reach/refresh (202, a job; 429 past the quota; 404
// for another user's campaign), and GET /campaigns/{id}/deliveries.csv streamed page by page: a
// 50,000-delivery export (about 50 MB) arrives whole, its later pages read after its first bytes
// were received. The functions process's peak memory growth is printed, not asserted: V8 collects
// the pages' garbage lazily, so it says more about the collector than about the export.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELIVERIES_CSV_COLUMNS } from '../../contracts/api/reach.ts';
import { asUser, createCampaignAs, withClient } from '../../scripts/test/db.ts';
import { type ApiFixture, expectErrorShape, startApi, type User } from './functions-fixture.ts';

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api?.stop());

const admin = <T>(fn: (c: import('pg').Client) => Promise<T>) => withClient(api.db.adminUrl, fn);

/** A campaign of `n` channels of the user's, its deliveries still pending (a draft). */
async function campaignOf(u: User, n: number, peerPrefix: string): Promise<string> {
  const channelIds = await admin(async (c) => {
    const acc = await c.query(`insert into public.telegram_accounts (owner_id, label) values ($1, 'reach') returning id`, [u.id]);
    const { rows } = await c.query(
      `insert into public.channels (owner_id, peer)
       select $1, '@' || $2 || lpad(i::text, 6, '0') from generate_series(1, $3) i returning id`,
      [u.id, peerPrefix, n],
    );
    return { account: acc.rows[0].id as string, ids: rows.map((r) => r.id as string) };
  });
  return await withClient(
    api.db.adminUrl,
    (c) => asUser(c, u.id, (t) => createCampaignAs(t, { channelIds: channelIds.ids, accountId: channelIds.account })),
  );
}

/** Marks the first `n` deliveries sent (message ids 1..n), as the worker records them. */
const markSent = (id: string, n: number) =>
  admin((c) =>
    c.query(
      `update public.deliveries d set state = 'sent', telegram_message_id = x.rn, sent_at = now() - interval '2 hours'
       from (select id, row_number() over (order by id) as rn from public.deliveries where campaign_id = $1 order by id limit $2) x
       where d.id = x.id`,
      [id, n],
    )
  );

/** One round as the worker stores it: the job active, each post's figures, then finished. */
async function sampleRound(jobId: string, views: (i: number) => number) {
  await admin(async (c) => {
    await c.query(`update pgboss.job set state = 'active', started_on = now() where name = 'reach' and id = $1`, [jobId]);
    const { rows } = await c.query('select * from public.worker_reach_targets($1, 1000)', [jobId]);
    const samples = rows.map((r, i) => ({
      deliveryId: r.delivery_id,
      views: views(i),
      forwards: 1,
      replies: 0,
      reactions: views(i) / 10,
      errorCode: null,
    }));
    await c.query('select public.worker_reach_store($1, $2::jsonb)', [jobId, JSON.stringify(samples)]);
    await c.query('select public.worker_reach_finish($1)', [jobId]);
  });
}

const refreshJob = (campaignId: string) =>
  admin(async (c) =>
    (await c.query(
      `select id from pgboss.job where name = 'reach' and data ->> 'campaignId' = $1 and data ->> 'round' = 'refresh'
       and state = 'created'`,
      [campaignId],
    )).rows[0].id as string
  );

describe('campaign reach over HTTP', () => {
  it('refresh queues a round; GET reach has totals, their history and the sent posts paged; another user gets 404', async () => {
    const a = await api.newUser();
    const b = await api.newUser();
    const id = await campaignOf(a, 3, 'reach_http_');
    await markSent(id, 3);
    const refreshed = await a.call('POST', `/campaigns/${id}/reach/refresh`);
    expect(refreshed.status).toBe(202);
    expect(refreshed.body).toEqual({ campaignId: id, queued: true });
    await sampleRound(await refreshJob(id), (i) => 10 * (i + 1));
    await a.call('POST', `/campaigns/${id}/reach/refresh`);
    await sampleRound(await refreshJob(id), (i) => 20 * (i + 1));

    const first = await a.call('GET', `/campaigns/${id}/reach?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.totals).toMatchObject({ sent: 3, sampled: 3, views: 120, forwards: 3, replies: 0, reactions: 12 });
    expect(first.body.history.map((h: { views: number; posts: number; reactions: number }) => [h.posts, h.views, h.reactions]))
      .toEqual([[3, 60, 6], [3, 120, 12]]);
    expect(
      first.body.channels.items.map((
        c: { views: number; samples: number; reactions: number },
      ) => [c.views, c.samples, c.reactions]),
    ).toEqual([[20, 2, 2], [40, 2, 4]]);
    const second = await a.call('GET', `/campaigns/${id}/reach?limit=2&cursor=${first.body.channels.nextCursor}`);
    expect(second.body.channels.items.map((c: { views: number }) => c.views)).toEqual([60]);
    expect(second.body.channels.nextCursor).toBeNull();
    const csv = await fetch(`${api.url}/campaigns/${id}/deliveries.csv`, { headers: { authorization: `Bearer ${a.token}` } });
    const [head, ...rows] = (await csv.text()).split('\r\n').filter(Boolean);
    expect(head!.split(',').slice(-2)).toEqual(['sampled_at', 'reactions']);
    expect(rows.map((r) => r.split(',').slice(10, 13).concat(r.split(',').at(-1)!))).toEqual([
      ['20', '1', '0', '2'],
      ['40', '1', '0', '4'],
      ['60', '1', '0', '6'],
    ]);

    for (const r of [await b.call('GET', `/campaigns/${id}/reach`), await b.call('POST', `/campaigns/${id}/reach/refresh`)]) {
      expectErrorShape(r, 404, 'not_found');
    }
    expectErrorShape(await a.call('GET', `/campaigns/not-a-uuid/reach`), 422, 'validation_failed');
  });

  it('refreshes past the hourly quota are 429 and queue nothing', async () => {
    const a = await api.newUser();
    const id = await campaignOf(a, 1, 'reach_quota_');
    await admin((c) =>
      c.query(`insert into private.quota_overrides (owner_id, name, value) values ($1, 'reach_refreshes', 1)`, [a.id])
    );
    expect((await a.call('POST', `/campaigns/${id}/reach/refresh`)).status).toBe(202);
    const before = await api.fingerprint();
    expectErrorShape(await a.call('POST', `/campaigns/${id}/reach/refresh`), 429, 'quota_exceeded');
    expect(await api.fingerprint()).toEqual(before);
  });

  it(
    'streams a 50,000-delivery CSV page by page: whole, in id order, later pages read after the first bytes arrived',
    async () => {
      const a = await api.newUser();
      const b = await api.newUser();
      const id = await campaignOf(a, 50_000, 'reach_csv_');
      await markSent(id, 10);
      // ~1 KB per row: some 50 MB, more than loopback buffers hold, so the server reads as the client takes
      await admin((c) =>
        c.query(`update public.deliveries set error_message = repeat('x', 900) || ', "quoted"' where campaign_id = $1`, [id])
      );
      const rss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${api.server.child.pid}/status`, 'utf8'))![1]) * 1024;
      expectErrorShape(await b.call('GET', `/campaigns/${id}/deliveries.csv`), 404, 'not_found');
      const peakBefore = rss();

      const res = await fetch(`${api.url}/campaigns/${id}/deliveries.csv`, { headers: { authorization: `Bearer ${a.token}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(res.headers.get('content-length')).toBeNull();
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value, { stream: true });
      // the last delivery changes after the first bytes arrived: a page read later shows the change
      await admin((c) =>
        c.query(
          `update public.deliveries set error_code = 'CHANGED_MID_EXPORT'
         where id = (select max(id::text)::uuid from public.deliveries where campaign_id = $1)`,
          [id],
        )
      );
      let chunks = 1;
      for (let r = await reader.read(); !r.done; r = await reader.read(), chunks++) {
        text += decoder.decode(r.value, { stream: true });
      }
      const peakGrowth = rss() - peakBefore;
      console.log(
        `[reach] CSV: ${text.length} bytes, ${chunks} chunks, functions peak RSS +${(peakGrowth / 1048576).toFixed(1)} MB`,
      );

      const lines = text.split('\r\n').filter(Boolean);
      expect(lines[0]).toBe(DELIVERIES_CSV_COLUMNS.join(','));
      expect(lines).toHaveLength(50_001);
      const ids = lines.slice(1).map((l) => l.slice(0, 36));
      expect(new Set(ids).size).toBe(50_000);
      expect([...ids].sort()).toEqual(ids);
      expect(lines[1]).toMatch(/,sent,0,,"x{900}, ""quoted""",1,/);
      expect(lines.at(-1)).toContain(',pending,0,CHANGED_MID_EXPORT,');
    },
    300_000,
  );
});
