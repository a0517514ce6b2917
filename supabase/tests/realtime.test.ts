// Realtime progress, database side (docs/architecture.md §6). The Realtime server cannot run here (no Docker),
// so this checks what it would consume: the broadcast rows realtime.send() writes (topic,
// event, payload), the policy Realtime evaluates when a user joins `campaign:<id>`, the
// coalescing, and the publication. watchCampaign() is checked against a fake supabase client here,
// and with the real supabase-js against the local Realtime stand-in in realtime-client.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  campaignProgressEventSchema,
  campaignTopic,
  progressFromCampaignRow,
  type RealtimeChannelLike,
  watchCampaign,
} from '../../contracts/realtime.ts';
import { asAnon, asUser, createTestDatabase, createUser, type TestDatabase, type TxClient } from '../../scripts/test/db.ts';

interface Fixture {
  owner: string;
  campaignId: string;
  deliveryIds: string[];
}

async function makeCampaign(c: pg.Client, owner: string, targets: number): Promise<Fixture> {
  return await asUser(c, owner, async (t) => {
    await t.query(`insert into public.telegram_accounts (label) values ('main') on conflict do nothing`);
    const peers = Array.from({ length: targets }, (_, i) => `@chan_${owner.slice(0, 8)}_${i}`);
    await t.query('select public.import_channels($1)', [peers]);
    const ids = (await t.query(`select id from public.channels where peer = any($1)`, [peers])).rows.map((r) => r.id);
    const camp = (await t.query(
      `select (public.create_campaign(p_name => 'rt', p_channel_ids => $1,
      p_message => '{"text":"hi"}'::jsonb)).id`,
      [ids],
    )).rows[0].id as string;
    await t.query('select public.start_campaign($1)', [camp]);
    const deliveryIds = (await t.query('select id from public.deliveries where campaign_id = $1 order by id', [camp])).rows.map((
      r,
    ) => r.id);
    return { owner, campaignId: camp, deliveryIds };
  });
}

/** What the worker does per send: one transaction recording one outcome. */
async function recordSent(c: pg.Client, deliveryId: string, messageId: number): Promise<void> {
  await c.query(
    `select public.worker_record(jsonb_build_array(jsonb_build_object(
    'deliveryId', d.id, 'jobId', d.job_id, 'accountId', c.account_id, 'outcome', 'sent', 'messageId', $2::bigint)))
    from public.deliveries d join public.campaigns c on c.id = d.campaign_id where d.id = $1`,
    [deliveryId, messageId],
  );
}

async function events(c: pg.Client, campaignId: string) {
  const { rows } = await c.query(
    `select topic, event, private, extension, payload, inserted_at from realtime.messages
     where topic = $1 order by id`,
    [campaignTopic(campaignId)],
  );
  return rows as Array<
    { topic: string; event: string; private: boolean; extension: string; payload: unknown; inserted_at: Date }
  >;
}

/** Realtime's join check: as the user, with realtime.topic() set, can the topic's rows be read? */
async function canJoin(t: TxClient, topic: string): Promise<boolean> {
  await t.query(`select set_config('realtime.topic', $1, true)`, [topic]);
  const { rows } = await t.query(`select count(*)::int as n from realtime.messages where topic = realtime.topic()`);
  return rows[0].n > 0;
}

describe('realtime campaign progress', () => {
  let db: TestDatabase;
  let c: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase({ prefix: 'tg_rt' });
    c = await db.connect();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('puts campaigns in the supabase_realtime publication', async () => {
    const { rows } = await c.query(`select tablename from pg_publication_tables
      where pubname = 'supabase_realtime' and schemaname = 'public'`);
    expect(rows.map((r) => r.tablename)).toContain('campaigns');
  });

  it('broadcasts a schema-valid progress event on the private campaign topic', async () => {
    const owner = await createUser(db);
    const f = await makeCampaign(c, owner, 3);
    for (const [i, id] of f.deliveryIds.entries()) await recordSent(c, id, 1000 + i);
    const evs = await events(c, f.campaignId);
    expect(evs.length).toBeGreaterThanOrEqual(3); // targets added (draft), start, completion at least
    for (const e of evs) {
      expect(e).toMatchObject({ topic: `campaign:${f.campaignId}`, event: 'progress', private: true, extension: 'broadcast' });
      campaignProgressEventSchema.parse(e.payload);
    }
    expect(evs.map((e) => e.payload)).toContainEqual(
      expect.objectContaining({ campaignId: f.campaignId, state: 'running', total: 3, pending: 3, sent: 0 }),
    );
    expect(evs.at(-1)!.payload).toMatchObject({
      campaignId: f.campaignId,
      state: 'completed',
      pauseReason: null,
      resumeAt: null,
      total: 3,
      pending: 0,
      sent: 3,
      failed: 0,
      cancelled: 0,
    });
  });

  it('lets only the campaign owner receive the topic', async () => {
    const owner = await createUser(db);
    const stranger = await createUser(db);
    const f = await makeCampaign(c, owner, 1);
    const topic = campaignTopic(f.campaignId);
    expect(await asUser(c, owner, (t) => canJoin(t, topic), { rollback: true })).toBe(true);
    expect(await asUser(c, stranger, (t) => canJoin(t, topic), { rollback: true })).toBe(false);
    // Malformed topics deny instead of raising a cast error.
    for (const bad of ['campaign:not-a-uuid', `campaign:${f.campaignId}x`, 'campaign:', 'other']) {
      expect(await asUser(c, owner, (t) => canJoin(t, bad), { rollback: true })).toBe(false);
    }
    // anon has no grant on realtime.messages at all.
    await expect(asAnon(c, (t) => canJoin(t, topic), { rollback: true })).rejects.toThrow(/permission denied/);
  });

  it('coalesces fast updates to a handful of events per second, never dropping state changes or the end', async () => {
    const owner = await createUser(db);
    const f = await makeCampaign(c, owner, 400);
    const half = f.deliveryIds.slice(0, 200);
    const rest = f.deliveryIds.slice(200);
    const t0 = Date.now();
    for (const [i, id] of half.entries()) await recordSent(c, id, i + 1);
    // A pause right after a burst is a state change: it must go out at once.
    await asUser(c, owner, (t) => t.query('select public.pause_campaign($1)', [f.campaignId]));
    await asUser(c, owner, (t) => t.query('select public.resume_campaign($1)', [f.campaignId]));
    for (const [i, id] of rest.entries()) await recordSent(c, id, 1000 + i);
    const seconds = (Date.now() - t0) / 1000;

    const evs = await events(c, f.campaignId);
    const payloads = evs.map((e) => campaignProgressEventSchema.parse(e.payload));
    const updatesPerSecond = 400 / seconds;
    // 5/s from the 200 ms window, plus start, pause, resume, completion.
    const allowed = Math.ceil(seconds * 5) + 4;
    expect(
      payloads.length,
      `${payloads.length} events for 400 updates in ${seconds.toFixed(2)} s (${updatesPerSecond.toFixed(0)}/s)`,
    )
      .toBeLessThanOrEqual(allowed);
    // The test really did update faster than it may emit (twice as fast is enough: unmerged
    // events would break both bounds), even on a busy machine.
    expect(updatesPerSecond).toBeGreaterThan(10);
    // No sliding one-second window holds more than 5 counter-only events + the state changes.
    const times = payloads.map((p) => Date.parse(p.at));
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(5 + 4);
    }
    expect(payloads.map((p) => p.state)).toEqual(expect.arrayContaining(['running', 'paused', 'completed']));
    expect(payloads.find((p) => p.state === 'paused')).toMatchObject({ pauseReason: 'manual', sent: 200 });
    expect(payloads.at(-1)).toMatchObject({ state: 'completed', sent: 400, pending: 0 });
    // Counts never go backwards between frames.
    for (let i = 1; i < payloads.length; i++) expect(payloads[i]!.sent).toBeGreaterThanOrEqual(payloads[i - 1]!.sent);
  });

  it('sends the final counts of a cancel (counters move after the state change)', async () => {
    const owner = await createUser(db);
    const f = await makeCampaign(c, owner, 5);
    await recordSent(c, f.deliveryIds[0]!, 1);
    await asUser(c, owner, (t) => t.query('select public.cancel_campaign($1)', [f.campaignId]));
    const last = campaignProgressEventSchema.parse((await events(c, f.campaignId)).at(-1)!.payload);
    expect(last).toMatchObject({ state: 'cancelled', sent: 1, pending: 0, cancelled: 4 });
  });
});

describe('watchCampaign()', () => {
  const id = '4f0c6a3e-9a51-4d7e-8f51-2d6e1c0a9b11';
  const valid = {
    campaignId: id,
    state: 'running',
    pauseReason: null,
    resumeAt: null,
    total: 10,
    pending: 7,
    sent: 3,
    failed: 0,
    unconfirmed: 0,
    cancelled: 0,
    at: '2026-11-28T10:00:00.123456+00:00',
  };

  /** Records what the helper asks of supabase-js and lets the test play the server. */
  function fakeClient(joinStatus: string) {
    const channels: Array<
      { name: string; opts: unknown; bindings: Array<{ type: string; filter: unknown; cb: (p: any) => void }>; removed: boolean }
    > = [];
    const client = {
      channel(name: string, opts?: unknown) {
        const rec = {
          name,
          opts,
          bindings: [] as Array<{ type: string; filter: unknown; cb: (p: any) => void }>,
          removed: false,
        };
        channels.push(rec);
        const ch: RealtimeChannelLike = {
          on(type, filter, cb) {
            rec.bindings.push({ type, filter, cb });
            return ch;
          },
          subscribe(cb) {
            queueMicrotask(() => cb?.(name.startsWith('campaign:') ? joinStatus : 'SUBSCRIBED'));
            return ch;
          },
        };
        return ch;
      },
      async removeChannel(ch: unknown) {
        void ch;
        channels.at(-1)!.removed = true;
      },
    };
    return { client, channels };
  }

  it('subscribes to the private topic and passes validated events', async () => {
    const { client, channels } = fakeClient('SUBSCRIBED');
    const got: unknown[] = [];
    const invalid: unknown[] = [];
    const w = watchCampaign(client, id, (e) => got.push(e), { onInvalid: (p) => invalid.push(p) });
    await new Promise((r) => setTimeout(r, 0)); // the channel opens once the token is loaded
    expect(channels[0]).toMatchObject({
      name: `campaign:${id}`,
      opts: { config: { private: true, broadcast: { replay: { since: expect.any(Number), limit: 1 } } } },
    });
    expect(channels[0]!.bindings[0]).toMatchObject({ type: 'broadcast', filter: { event: 'progress' } });
    channels[0]!.bindings[0]!.cb({ type: 'broadcast', event: 'progress', payload: valid });
    channels[0]!.bindings[0]!.cb({ type: 'broadcast', event: 'progress', payload: { ...valid, sent: -1 } });
    expect(got).toEqual([valid]);
    expect(invalid).toHaveLength(1);
    await w.unsubscribe();
    channels[0]!.bindings[0]!.cb({ type: 'broadcast', event: 'progress', payload: valid });
    expect(got).toHaveLength(1);
  });

  it('reports a refused join and never shows an older snapshot after a newer one', async () => {
    const { client, channels } = fakeClient('CHANNEL_ERROR');
    const got: Array<{ sent: number }> = [];
    const statuses: string[] = [];
    watchCampaign(client, id, (e) => got.push(e), { onStatus: (s) => statuses.push(s) });
    await new Promise((r) => setTimeout(r, 0));
    expect(statuses).toEqual(['CHANNEL_ERROR']);
    expect(channels).toHaveLength(1); // no other path is tried: Broadcast is the only one
    const cb = channels[0]!.bindings[0]!.cb;
    cb({ payload: { ...valid, sent: 5, at: '2026-11-28T10:00:02Z' } });
    cb({ payload: { ...valid, sent: 3, at: '2026-11-28T10:00:01Z' } }); // e.g. a replay racing a live event
    cb({ payload: { ...valid, sent: 6, at: '2026-11-28T10:00:03Z' } });
    expect(got.map((e) => e.sent)).toEqual([5, 6]);
  });

  it('maps a campaigns row like the trigger does', () => {
    expect(progressFromCampaignRow({
      id,
      state: 'paused',
      pause_reason: 'flood_wait',
      resume_at: '2026-11-28T10:01:00+00:00',
      total_count: 1,
      pending_count: 1,
      sent_count: 0,
      failed_count: 0,
      cancelled_count: 0,
      updated_at: '2026-11-28T10:00:00Z',
    })).toMatchObject({ state: 'paused', pauseReason: 'flood_wait', resumeAt: '2026-11-28T10:01:00.000Z' });
  });
});
