// public.update_campaign against the real migrations: what each state lets change, null clears,
// absent keys stay, the audit row, a lowered maxErrors that applies from the next failure, the
// worker seeing a new pace on its next claim, and who may call it.
import { describe, expect, it } from 'vitest';
import { asAnon, asServiceRole, asUser } from '../../scripts/test/db.ts';
import { makeOwner, sqlError, useOwnerDatabase } from './fixtures.ts';

const t = useOwnerDatabase(6, 'upd');

const row = async (id: string) =>
  (await t.client.query(
    `select name, state, pause_reason, rate_per_minute, max_errors, scheduled_at, failed_count, updated_at
    from public.campaigns where id = $1`,
    [id],
  )).rows[0];

async function newCampaign(
  extra: { rate?: number; maxErrors?: number; scheduledAt?: string; channels?: number } = {},
): Promise<string> {
  return asUser(t.client, t.owner.userId, async (c) =>
    (await c.query(
      `select (public.create_campaign(p_name => 'orig', p_channel_ids => $1::uuid[], p_message => '{"text":"hi"}',
       p_rate_per_minute => $2, p_max_errors => $3, p_scheduled_at => $4)).id`,
      [t.owner.channelIds.slice(0, extra.channels ?? 2), extra.rate ?? null, extra.maxErrors ?? null, extra.scheduledAt ?? null],
    )).rows[0].id as string);
}

const act = (fn: string, id: string) => asUser(t.client, t.owner.userId, (c) => c.query(`select public.${fn}($1)`, [id]));
const update = (id: string, changes: unknown, userId = t.owner.userId) =>
  asUser(
    t.client,
    userId,
    async (c) => (await c.query('select * from public.update_campaign($1, $2::jsonb)', [id, JSON.stringify(changes)])).rows[0],
  );
const updateError = (id: string, changes: unknown, userId = t.owner.userId) =>
  sqlError(t.client, userId, (c) => c.query('select public.update_campaign($1, $2::jsonb)', [id, JSON.stringify(changes)]));

/** Records outcomes as the worker would (service role), for pending deliveries in id order. */
async function record(campaignId: string, outcomes: Array<'sent' | 'failed'>): Promise<void> {
  const d = await t.client.query(
    `select d.id, d.job_id, c.account_id from public.deliveries d join public.campaigns c on c.id = d.campaign_id
    where d.campaign_id = $1 and d.state = 'pending' order by d.id`,
    [campaignId],
  );
  for (const [i, outcome] of outcomes.entries()) {
    const { id: deliveryId, job_id: jobId, account_id: accountId } = d.rows[i];
    const r = { deliveryId, jobId, accountId, outcome, messageId: 1000 + i, errorCode: 'CHAT_WRITE_FORBIDDEN' };
    await asServiceRole(t.client, (c) => c.query('select public.worker_record($1)', [JSON.stringify([r])]));
  }
}

const audits = async (id: string) =>
  (await t.client.query(
    `select actor, action, before, after from public.audit_log
    where entity = 'campaigns' and entity_id = $1 and action = 'update' order by id`,
    [id],
  )).rows;

describe('update_campaign', () => {
  it('in draft changes every field; absent keys stay, null clears, and one audit row holds what changed', async () => {
    const at = '2031-01-02T03:04:05.000Z';
    const id = await newCampaign({ rate: 30, maxErrors: 5 });
    const r = await update(id, { name: 'renamed', ratePerMinute: 12, scheduledAt: at });
    expect(r).toMatchObject({ name: 'renamed', state: 'draft', rate_per_minute: 12, max_errors: 5 });
    expect(r.scheduled_at.toISOString()).toBe(at);

    const cleared = await update(id, { ratePerMinute: null, maxErrors: null, scheduledAt: null });
    expect(cleared).toMatchObject({ name: 'renamed', rate_per_minute: null, max_errors: null, scheduled_at: null });

    const log = await audits(id);
    expect(log).toHaveLength(2);
    expect(log[0]).toMatchObject({
      actor: t.owner.userId,
      before: { name: 'orig', ratePerMinute: 30, scheduledAt: null },
      after: { name: 'renamed', ratePerMinute: 12 },
    });
    expect(Object.keys(log[0].after).sort()).toEqual(['name', 'ratePerMinute', 'scheduledAt']);
    expect(new Date(log[0].after.scheduledAt).toISOString()).toBe(at);
    expect(log[1]).toMatchObject({
      after: { ratePerMinute: null, maxErrors: null, scheduledAt: null },
      before: { ratePerMinute: 12, maxErrors: 5 },
    });
  });

  it('writes nothing for a change that changes nothing', async () => {
    const id = await newCampaign({ rate: 30 });
    const before = await row(id);
    const r = await update(id, { name: 'orig', ratePerMinute: 30, maxErrors: null });
    expect(r.updated_at).toEqual(before.updated_at);
    expect(await row(id)).toEqual(before);
    expect(await audits(id)).toEqual([]);
  });

  it('scheduled: name, pace and threshold change; scheduledAt is refused with 409 and the jobs keep their time', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const id = await newCampaign({ scheduledAt: at });
    await act('start_campaign', id);
    expect(await update(id, { name: 'later', ratePerMinute: 5, maxErrors: 0 }))
      .toMatchObject({ state: 'scheduled', name: 'later', rate_per_minute: 5, max_errors: 0 });
    const e = await updateError(id, { name: 'again', scheduledAt: new Date(Date.now() + 60_000).toISOString() });
    expect(e.code).toBe('PT409');
    expect(e.message).toContain('scheduled');
    expect(JSON.parse(e.detail!)).toMatchObject({ from: 'scheduled', to: 'scheduled', action: 'update', field: 'scheduledAt' });
    expect(await row(id)).toMatchObject({ name: 'later' }); // all or nothing
    const jobs = await t.client.query(
      `select min(j.start_after) s from pgboss.job j join public.deliveries d on d.job_id = j.id where d.campaign_id = $1`,
      [id],
    );
    expect(jobs.rows[0].s.toISOString()).toBe(at);
  });

  it('running and paused: name, pace and threshold change, the state stays; scheduledAt is refused', async () => {
    const id = await newCampaign();
    await act('start_campaign', id);
    expect(await update(id, { name: 'live', ratePerMinute: 100 })).toMatchObject({
      state: 'running',
      name: 'live',
      rate_per_minute: 100,
    });
    expect((await updateError(id, { scheduledAt: '2031-01-01T00:00:00Z' })).code).toBe('PT409');
    // the unchanged value sent back (a t.client saving its whole form) is no change
    expect(await update(id, { name: 'live', scheduledAt: null })).toMatchObject({ state: 'running', scheduled_at: null });
    await act('pause_campaign', id);
    expect(await update(id, { maxErrors: 7, ratePerMinute: null }))
      .toMatchObject({ state: 'paused', pause_reason: 'manual', max_errors: 7, rate_per_minute: null });
    const e = await updateError(id, { scheduledAt: '2031-01-01T00:00:00Z' });
    expect(JSON.parse(e.detail!)).toMatchObject({ from: 'paused', action: 'update' });
  });

  it('completed and cancelled: nothing changes, 409 naming the state', async () => {
    const done = await newCampaign({ channels: 1 });
    await act('start_campaign', done);
    await record(done, ['sent']);
    expect(await row(done)).toMatchObject({ state: 'completed' });
    const cancelled = await newCampaign();
    await act('cancel_campaign', cancelled);
    for (const [id, state] of [[done, 'completed'], [cancelled, 'cancelled']] as const) {
      const before = await row(id);
      for (const changes of [{ name: 'x' }, { maxErrors: 3 }, { ratePerMinute: null }, { scheduledAt: null }]) {
        const e = await updateError(id, changes);
        expect(e.code).toBe('PT409');
        expect(e.message).toBe(`cannot update campaign: it is ${state}, and a ${state} campaign cannot be changed`);
        expect(JSON.parse(e.detail!)).toEqual({ from: state, to: state, action: 'update' });
      }
      expect(await row(id)).toEqual(before);
      expect(await audits(id)).toEqual([]);
    }
  });

  it('a maxErrors lowered below the failures counted does not pause the campaign; the next failure does', async () => {
    const id = await newCampaign({ channels: 6 });
    await act('start_campaign', id);
    await record(id, ['failed', 'failed', 'failed']);
    expect(await row(id)).toMatchObject({ state: 'running', failed_count: 3 });
    expect(await update(id, { maxErrors: 1 })).toMatchObject({ state: 'running', pause_reason: null, max_errors: 1 });
    await record(id, ['sent']);
    expect(await row(id)).toMatchObject({ state: 'running' });
    await record(id, ['failed']);
    expect(await row(id)).toMatchObject({ state: 'paused', pause_reason: 'error_threshold', failed_count: 4 });

    // Raising it does not resume a campaign the threshold paused; resuming does, counting anew.
    expect(await update(id, { maxErrors: 10 })).toMatchObject({ state: 'paused', pause_reason: 'error_threshold' });
    await act('resume_campaign', id);
    expect(await row(id)).toMatchObject({ state: 'running', max_errors: 10 });
  });

  it('the worker reads a changed pace and threshold on its next take', async () => {
    const id = await newCampaign({ rate: 10 });
    await act('start_campaign', id);
    await update(id, { ratePerMinute: 20, maxErrors: 2 });
    const { account_id: accountId } =
      (await t.client.query('select account_id from public.campaigns where id = $1', [id])).rows[0];
    const claim = await asServiceRole(t.client, async (c) => {
      // worker_take serves only accounts whose advisory lock the given session holds.
      await c.query('select pg_advisory_xact_lock($1, hashtext($2))', [0x7467, accountId]);
      // Earlier tests left other campaigns of this account running: take from all of them.
      return (await c.query('select * from public.worker_take(pg_backend_pid(), $1::jsonb, 1000)', [
        JSON.stringify([{ accountId, limit: 1000 }]),
      ])).rows;
    }, { rollback: true });
    expect(claim.find((r) => r.campaign_id === id)).toMatchObject({
      action: 'send',
      campaign_rate_per_minute: 20,
      campaign_max_errors: 2,
    });
  });

  it('refuses malformed changes with the field, leaving the range checks to the table', async () => {
    const id = await newCampaign({ rate: 30 });
    const before = await row(id);
    const cases: [unknown, string, string | undefined][] = [
      [{}, 'PT422', undefined],
      [[], 'PT422', undefined],
      [{ name: 'x', state: 'running' }, 'PT422', 'state'],
      [{ name: null }, 'PT422', 'name'],
      [{ name: 5 }, 'PT422', 'name'],
      [{ ratePerMinute: 1.5 }, 'PT422', 'ratePerMinute'],
      [{ ratePerMinute: '5' }, 'PT422', 'ratePerMinute'],
      [{ maxErrors: 1e12 }, 'PT422', 'maxErrors'],
      [{ scheduledAt: 'not a time' }, 'PT422', 'scheduledAt'],
      [{ scheduledAt: 5 }, 'PT422', 'scheduledAt'],
      [{ ratePerMinute: 0 }, '23514', undefined],
      [{ maxErrors: -1 }, '23514', undefined],
      [{ name: '' }, '23514', undefined],
    ];
    for (const [changes, code, field] of cases) {
      const e = await updateError(id, changes);
      expect({ changes, code: e.code }).toEqual({ changes, code });
      if (field) expect(JSON.parse(e.detail!)).toEqual({ field });
    }
    expect(await row(id)).toEqual(before);
  });

  it("another user's campaign is not found; anon and public may not call it", async () => {
    const id = await newCampaign();
    const other = await makeOwner(t.db, t.client, 1, 'upd_other');
    const e = await updateError(id, { name: 'mine now' }, other.userId);
    expect(e).toMatchObject({ code: 'PT404', message: 'campaign not found' });
    await expect(asAnon(t.client, (c) => c.query('select public.update_campaign($1, $2)', [id, '{"name":"x"}'])))
      .rejects.toMatchObject({ code: '42501' });
    const grants = await t.client.query(`select r, has_function_privilege(r, 'public.update_campaign(uuid, jsonb)', 'execute') ok
      from unnest(array['anon', 'authenticated', 'service_role']) r`);
    expect(grants.rows).toEqual([{ r: 'anon', ok: false }, { r: 'authenticated', ok: true }, { r: 'service_role', ok: true }]);
    const fn = (await t.client.query(
      `select prosecdef, proconfig from pg_proc where oid = 'public.update_campaign(uuid, jsonb)'::regprocedure`,
    )).rows[0];
    expect(fn).toEqual({ prosecdef: true, proconfig: ['search_path=""'] });
    expect(await row(id)).toMatchObject({ name: 'orig' });
  });
});
