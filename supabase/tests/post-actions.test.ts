// Actions on sent posts against the real migrations: the owner's RPCs (validation, no partial
// rows, RLS), one action row and job per post, the worker's take and record (only the claiming
// job settles an action, each post edited once per version), standing actions at send time,
// pause and cancel.
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { campaignProgressEventSchema, campaignTopic } from '../../contracts/realtime.ts';
import { asUser, type TxClient } from '../../scripts/test/db.ts';
import { createCampaign, makeOwner, type Owner, sqlError, useOwnerDatabase } from './fixtures.ts';

const t = useOwnerDatabase(4);

/** A started campaign whose deliveries were all sent (message ids 100, 101, …), as the worker would record. */
async function sentCampaign(owner: Owner, extra: (c: TxClient, id: string) => Promise<unknown> = async () => {}) {
  const id = await asUser(t.client, owner.userId, async (c) => {
    const id = await createCampaign(c, owner, { text: 'v1' });
    await extra(c, id);
    await c.query('select public.start_campaign($1)', [id]);
    return id;
  });
  await t.client.query(
    `update public.deliveries d set state = 'sent', sent_at = now(), telegram_message_id = 100 + x.n
     from (select id, row_number() over (order by id) as n from public.deliveries where campaign_id = $1) x
     where d.id = x.id`,
    [id],
  );
  return id;
}

/** A started campaign with the message 'v1' to every channel of the owner. */
const started = (owner: Owner) =>
  asUser(t.client, owner.userId, async (c) => {
    const id = await createCampaign(c, owner, { text: 'v1' });
    await c.query('select public.start_campaign($1)', [id]);
    return id;
  });

/** The worker's advisory lock on the account, held by this connection (what worker_take_actions checks). */
async function lockAccount(client: pg.Client, accountId: string): Promise<number> {
  await client.query('select pg_advisory_lock(29799, hashtext($1))', [accountId]);
  return (await client.query('select pg_backend_pid() as pid')).rows[0].pid;
}

async function take(owner: Owner, limit = 100) {
  const pid = await lockAccount(t.client, owner.accountId);
  const { rows } = await t.client.query('select * from public.worker_take_actions($1, $2::jsonb)', [
    pid,
    JSON.stringify([{ accountId: owner.accountId, limit }]),
  ]);
  return rows;
}

const record = (owner: Owner, rows: Array<{ action_id: string; job_id: string }>, outcome: string, extra = {}) =>
  t.client.query('select public.worker_record_actions($1::jsonb)', [
    JSON.stringify(rows.map((r) => ({ actionId: r.action_id, jobId: r.job_id, accountId: owner.accountId, outcome, ...extra }))),
  ]);

const counts = async (id: string) =>
  (await t.client.query('select action_counts, message_version from public.campaigns where id = $1', [id])).rows[0];

const editAs = (owner: Owner, id: string, body: unknown) =>
  asUser(
    t.client,
    owner.userId,
    (c) => c.query('select * from public.edit_campaign_message($1, $2::jsonb)', [id, JSON.stringify(body)]),
  );

describe('edit_campaign_message', () => {
  it('refuses bad input with a 422 naming the field, changing nothing', async () => {
    const id = await sentCampaign(t.owner);
    for (
      const [body, field] of [
        [{}, 'text'],
        [{ text: 5 }, 'text'],
        [{ text: '' }, 'text'],
        [{ text: 'x'.repeat(4097) }, 'text'],
        [{ text: 'ok', parseMode: 'rtf' }, 'parseMode'],
        [{ text: 'ok', media: { path: 'a.png', kind: 'photo' } }, 'media'],
        [{ text: 'hi {{name}}' }, 'text'],
      ] as const
    ) {
      const e = await sqlError(
        t.client,
        t.owner.userId,
        (c) => c.query('select public.edit_campaign_message($1, $2::jsonb)', [id, JSON.stringify(body)]),
      );
      expect({ body, code: e.code, field: JSON.parse(e.detail ?? '{}').field }).toEqual({ body, code: 'PT422', field });
    }
    expect(await counts(id)).toEqual({ action_counts: {}, message_version: 1 });
    const n = await t.client.query('select count(*)::int as n from public.delivery_actions where campaign_id = $1', [id]);
    expect(n.rows[0].n).toBe(0);
  });

  it('409 on a draft, 404 for another owner', async () => {
    const draft = await asUser(t.client, t.owner.userId, (c) => createCampaign(c, t.owner));
    expect(
      (await sqlError(
        t.client,
        t.owner.userId,
        (c) => c.query('select public.edit_campaign_message($1, $2::jsonb)', [draft, '{"text":"x"}']),
      )).code,
    ).toBe('PT409');
    const other = await makeOwner(t.db, t.client, 1, 'other404');
    expect(
      (await sqlError(
        t.client,
        other.userId,
        (c) => c.query('select public.edit_campaign_message($1, $2::jsonb)', [draft, '{"text":"x"}']),
      )).code,
    ).toBe('PT404');
  });

  it('a new version: one edit per sent post, taken with the new text, settled only by its job, counted', async () => {
    const id = await sentCampaign(t.owner);
    await editAs(t.owner, id, { text: 'v2', linkPreview: false });
    expect((await counts(id)).message_version).toBe(2);
    const rows = await take(t.owner);
    expect(rows.map((r) => [r.action, r.version, r.message_text, r.link_preview])).toEqual(
      Array(4).fill(['edit', 2, 'v2', false]),
    );
    expect(new Set(rows.map((r) => r.message_id)).size).toBe(4);
    // a stale job (not the one recorded on the action) changes nothing
    await record(t.owner, [{ action_id: rows[0].action_id, job_id: rows[1].job_id }], 'done');
    expect((await counts(id)).action_counts.edited).toBe(0);
    await record(t.owner, rows.slice(0, 3), 'done');
    await record(t.owner, rows.slice(3), 'failed', { errorCode: 'MESSAGE_EDIT_TIME_EXPIRED', errorMessage: 'too old' });
    // recorded twice: still counted once
    await record(t.owner, rows.slice(0, 3), 'done');
    expect((await counts(id)).action_counts).toEqual({
      edited: 3,
      deleted: 0,
      pinned: 0,
      unpinned: 0,
      pending: 0,
      failed: { edit: { MESSAGE_EDIT_TIME_EXPIRED: 1 } },
    });
    // the final counts went out over Realtime (the last pending action settled), schema-valid
    const { rows: events } = await t.client.query(
      `select payload from realtime.messages where topic = $1 order by id desc limit 1`,
      [campaignTopic(id)],
    );
    expect(campaignProgressEventSchema.parse(events[0].payload).actions).toMatchObject({ edited: 3, pending: 0 });
    // the same message again is no new version
    await editAs(t.owner, id, { text: 'v2', linkPreview: false });
    expect((await counts(id)).message_version).toBe(2);
    expect(await take(t.owner)).toEqual([]);
  });

  it('a newer version supersedes pending edits of the older one: each post is edited once per version', async () => {
    const id = await sentCampaign(t.owner);
    await editAs(t.owner, id, { text: 'v2' });
    const claimed = await take(t.owner, 2); // two edits to v2 in flight (the worker may crash now)
    await editAs(t.owner, id, { text: 'v3' });
    const rows = await take(t.owner);
    expect(rows.map((r) => [r.action, r.version, r.message_text])).toEqual(Array(4).fill(['edit', 3, 'v3']));
    // the v2 jobs come back after a crash: the actions are no longer pending, nothing to do
    await t.client.query(`update pgboss.job set state = 'retry' where id = any($1::uuid[])`, [claimed.map((r) => r.job_id)]);
    const again = await take(t.owner);
    expect(again.map((r) => [r.action, r.reason])).toEqual(Array(2).fill(['skip', 'action cancelled']));
    await record(t.owner, rows, 'done');
    const done = await t.client.query(
      `select version, state, count(*)::int as n from public.delivery_actions where campaign_id = $1 group by 1, 2 order by 1, 2`,
      [id],
    );
    expect(done.rows).toEqual([{ version: 2, state: 'cancelled', n: 4 }, { version: 3, state: 'done', n: 4 }]);
  });
});

describe('standing actions: deleteAfter and pin', () => {
  it('refuses bad durations naming the field, changing nothing', async () => {
    const id = await sentCampaign(t.owner);
    for (
      const [body, field] of [
        [{ deleteAfter: '24h' }, 'deleteAfter'],
        [{ deleteAfter: 'PT0S' }, 'deleteAfter'],
        [{ deleteAfter: 'P400D' }, 'deleteAfter'],
        [{ deleteAfter: 'PT' }, 'deleteAfter'],
        [{ pin: { unpinAfter: 'P1Y' } }, 'pin.unpinAfter'],
        [{ pin: { silent: 'yes' } }, 'pin.silent'],
        [{ pin: true }, 'pin'],
        [{ nope: 1 }, 'nope'],
      ] as const
    ) {
      const e = await sqlError(
        t.client,
        t.owner.userId,
        (c) => c.query('select public.set_post_actions($1, $2::jsonb)', [id, JSON.stringify(body)]),
      );
      expect({ body, code: e.code, field: JSON.parse(e.detail ?? '{}').field }).toEqual({ body, code: 'PT422', field });
    }
    const c = await t.client.query('select delete_after_s, pin_silent from public.campaigns where id = $1', [id]);
    expect(c.rows[0]).toEqual({ delete_after_s: null, pin_silent: null });
  });

  it('deleteAfter set before the sends: each post gets a delete job due that long after its send', async () => {
    const id = await sentCampaign(
      t.owner,
      (c, id) =>
        c.query(`select public.set_post_actions($1, '{"deleteAfter":"PT24H","pin":{"silent":true,"unpinAfter":"P1W"}}')`, [id]),
    );
    const { rows } = await t.client.query(
      `select a.kind, a.silent, round(extract(epoch from a.due_at - d.sent_at)) as after_s,
         round(extract(epoch from j.start_after - a.due_at)) as job_skew_s
       from public.delivery_actions a join public.deliveries d on d.id = a.delivery_id
       join pgboss.job j on j.id = a.job_id and j.group_id = 'actions'
       where a.campaign_id = $1 order by a.kind`,
      [id],
    );
    const byKind = (k: string) =>
      rows.filter((r) => r.kind === k).map((r) => [Number(r.after_s), Number(r.job_skew_s), r.silent]);
    expect(byKind('delete')).toEqual(Array(4).fill([86_400, 0, true]));
    expect(byKind('unpin')).toEqual(Array(4).fill([604_800, 0, true]));
    expect(byKind('pin').map(([after, skew]) => [after! < 5, skew])).toEqual(Array(4).fill([true, 0]));
    // only the pins are due now
    expect((await take(t.owner)).map((r) => [r.action, r.silent])).toEqual(Array(4).fill(['pin', true]));
  });

  it("delete-posts deletes every post now, stopping the pending edits; a paused campaign's actions wait for its resume", async () => {
    const owner = await makeOwner(t.db, t.client, 3, 'del');
    const id = await started(owner);
    // one post sent, two deliveries pending: the campaign is running
    await t.client.query(
      `update public.deliveries set state = 'sent', sent_at = now(), telegram_message_id = 7
       where id = (select id from public.deliveries where campaign_id = $1 order by id limit 1)`,
      [id],
    );
    await editAs(owner, id, { text: 'v2' });
    await asUser(t.client, owner.userId, (c) => c.query('select public.pause_campaign($1)', [id]));
    expect(await take(owner)).toEqual([]);
    await asUser(t.client, owner.userId, (c) => c.query('select public.delete_campaign_posts($1)', [id]));
    expect(await take(owner)).toEqual([]);
    // a job lost during the pause (pg-boss's retention) is made again when the campaign runs again
    await t.client.query(
      `delete from pgboss.job where id in (select job_id from public.delivery_actions where campaign_id = $1)`,
      [id],
    );
    await asUser(t.client, owner.userId, (c) => c.query('select public.resume_campaign($1)', [id]));
    expect((await take(owner)).map((r) => [r.action, r.message_id])).toEqual([['delete', '7']]);
    // cancelling the campaign cancels what is pending
    await asUser(t.client, owner.userId, async (c) => {
      await c.query(`select public.set_post_actions($1, '{"pin":{}}')`, [id]);
      await c.query('select public.cancel_campaign($1)', [id]);
    });
    const left = await t.client.query(
      `select kind, state, error_code from public.delivery_actions where campaign_id = $1 and kind = 'pin'`,
      [id],
    );
    expect(left.rows).toEqual([{ kind: 'pin', state: 'cancelled', error_code: 'CAMPAIGN_CANCELLED' }]);
  });

  it('a send claimed before the message changed gets an edit to the new version once recorded', async () => {
    const owner = await makeOwner(t.db, t.client, 1, 'late');
    /** A one-target campaign whose send the worker claimed (its job active), `between` the claim and its record. */
    const claimedThenSent = async (messageId: number, between: (id: string) => Promise<unknown>) => {
      const id = await started(owner);
      await t.client.query(
        `update pgboss.job set state = 'active', started_on = now() - interval '1 second'
         where id = (select job_id from public.deliveries where campaign_id = $1)`,
        [id],
      );
      await between(id);
      await t.client.query(
        `update public.deliveries set state = 'sent', sent_at = now(), telegram_message_id = $2 where campaign_id = $1`,
        [id, messageId],
      );
    };
    await claimedThenSent(9, async () => {});
    expect((await take(owner)).length).toBe(0); // no edit for a post sent with the text it has
    await claimedThenSent(10, (id) => editAs(owner, id, { text: 'v2' }));
    expect((await take(owner)).map((r) => [r.action, r.message_text, r.message_id])).toEqual([['edit', 'v2', '10']]);
  });
});

describe('row-level security', () => {
  it('an owner reads the action rows of their own posts only', async () => {
    const id = await sentCampaign(t.owner);
    await asUser(t.client, t.owner.userId, (c) => c.query('select public.delete_campaign_posts($1)', [id]));
    const mine = await asUser(
      t.client,
      t.owner.userId,
      (c) => c.query('select count(*)::int as n from public.delivery_actions where campaign_id = $1', [id]),
    );
    expect(mine.rows[0].n).toBe(4);
    const other = await makeOwner(t.db, t.client, 1, 'rls');
    const theirs = await asUser(
      t.client,
      other.userId,
      (c) => c.query('select count(*)::int as n from public.delivery_actions where campaign_id = $1', [id]),
    );
    expect(theirs.rows[0].n).toBe(0);
    const write = await sqlError(
      t.client,
      t.owner.userId,
      (c) => c.query(`update public.delivery_actions set state = 'done' where campaign_id = $1`, [id]),
    );
    expect(write.code).toBe('42501');
  });
});
