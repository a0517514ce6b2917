// Rules users meet after the happy path: the error threshold after a resume, template rendering,
// deleting an account, resuming before the scheduled time, unique names, field-naming errors.
import { describe, expect, it } from 'vitest';
import { asServiceRole, asUser } from '../../scripts/test/db.ts';
import { makeOwner, sqlError, useOwnerDatabase } from './fixtures.ts';

const t = useOwnerDatabase(6, 'rules');

const campaignRow = async (id: string) =>
  (await t.client.query(
    'select state, pause_reason, failed_count, sent_count, started_at, account_id from public.campaigns where id = $1',
    [id],
  )).rows[0];

async function newCampaign(extra: { maxErrors?: number; scheduledAt?: string; channels?: string[] } = {}): Promise<string> {
  return asUser(t.client, t.owner.userId, async (c) => {
    const r = await c.query(
      `select (public.create_campaign(p_name => 'r', p_channel_ids => $1::uuid[], p_message => '{"text":"hi"}',
         p_max_errors => $2, p_scheduled_at => $3)).id`,
      [extra.channels ?? t.owner.channelIds, extra.maxErrors ?? null, extra.scheduledAt ?? null],
    );
    return r.rows[0].id as string;
  });
}

/** Records outcomes as the worker would (service role), for deliveries in id order. */
async function record(campaignId: string, outcomes: Array<'sent' | 'failed'>): Promise<void> {
  const d = await t.client.query(
    `select d.id, d.job_id, c.account_id from public.deliveries d join public.campaigns c on c.id = d.campaign_id
    where d.campaign_id = $1 and d.state = 'pending' order by d.id`,
    [campaignId],
  );
  const results = outcomes.map((outcome, i) => ({
    deliveryId: d.rows[i].id,
    jobId: d.rows[i].job_id,
    accountId: d.rows[i].account_id,
    outcome,
    messageId: 1000 + i,
    errorCode: 'CHAT_WRITE_FORBIDDEN',
  }));
  for (const r of results) {
    await asServiceRole(t.client, (c) => c.query('select public.worker_record($1)', [JSON.stringify([r])]));
  }
}

const act = (fn: string, id: string) => asUser(t.client, t.owner.userId, (c) => c.query(`select public.${fn}($1)`, [id]));

describe('max errors', () => {
  it('pauses on the failure past the threshold; after a resume successes go on and the count starts anew', async () => {
    const id = await newCampaign({ maxErrors: 1 });
    await act('start_campaign', id);
    await record(id, ['failed']);
    expect(await campaignRow(id)).toMatchObject({ state: 'running' });
    await record(id, ['failed']);
    expect(await campaignRow(id)).toMatchObject({ state: 'paused', pause_reason: 'error_threshold', failed_count: 2 });

    await act('resume_campaign', id);
    await record(id, ['sent']);
    expect(await campaignRow(id)).toMatchObject({ state: 'running', sent_count: 1 });
    await record(id, ['failed']);
    expect(await campaignRow(id)).toMatchObject({ state: 'running', failed_count: 3 });
    await record(id, ['failed']);
    expect(await campaignRow(id)).toMatchObject({ state: 'paused', pause_reason: 'error_threshold', failed_count: 4 });
  });
});

describe('templates', () => {
  const render = async (text: string, vars: unknown, mode = 'plain') =>
    (await t.client.query('select * from public.render_template($1, $2, $3)', [text, JSON.stringify(vars), mode])).rows[0];

  it('fills variables in one pass, keeps missing ones as written, and escapes values in HTML', async () => {
    expect(await render('Hi {{name}}, see {{ link }}', { name: '{{link}}' })).toEqual({
      text: 'Hi {{link}}, see {{ link }}',
      missing: ['link'],
    });
    expect(await render('<b>{{who}}</b> &', { who: '<script>&' }, 'html')).toEqual({
      text: '<b>&lt;script&gt;&amp;</b> &',
      missing: [],
    });
    expect(await render('*{{who}}*', { who: '<b>' }, 'markdown')).toEqual({ text: '*<b>*', missing: [] });
    expect(await render('{{a}}{{b}}{{a}}', { a: 1, b: 'x' })).toEqual({ text: '1x1', missing: [] });
    expect(await render('<a href="{{u}}">x</a>', { u: 'https://ok" onclick="x' }, 'html'))
      .toEqual({ text: '<a href="https://ok&quot; onclick=&quot;x">x</a>', missing: [] });
  });

  it('stops as soon as the result passes 4096 characters, so a small request cannot make a huge one', async () => {
    // Raised after the first piece past the limit (it took 15 s and returned 13 MB unbounded).
    await expect(render('{{a}}'.repeat(819), { a: '‹'.repeat(4096) }, 'html'))
      .rejects.toMatchObject({ code: 'PT422', message: expect.stringContaining('longer than 4096') });
    await expect(render('{{a}}'.repeat(1000), {})).rejects.toMatchObject({ code: 'PT422', detail: '{"field":"text"}' });
    const full = await render('{{a}}'.repeat(800), { a: 'xxxxx' });
    expect(full.text).toHaveLength(4000);
  });

  it('a campaign from a template names the missing variables and the field', async () => {
    const e = await sqlError(t.client, t.owner.userId, async (c) => {
      const tpl = await c.query(`insert into public.templates (name, text) values ('needs-vars', 'Hi {{name}}') returning id`);
      await c.query(`select public.create_campaign(p_name => 'x', p_template_id => $1, p_channel_ids => $2::uuid[])`, [
        tpl.rows[0].id,
        t.owner.channelIds,
      ]);
    });
    expect(e).toMatchObject({ code: 'PT422', message: 'missing template variables: name' });
    expect(JSON.parse(e.detail!)).toEqual({ field: 'variables' });
  });

  it('template names are unique per t.owner, like batch names', async () => {
    const e = await sqlError(
      t.client,
      t.owner.userId,
      (c) => c.query(`insert into public.templates (name, text) values ('same', 'a'), ('same', 'b')`),
    );
    expect(e.code).toBe('23505');
  });
});

describe('accounts', () => {
  it('cannot be deleted while a campaign is unfinished; afterwards campaigns keep their history', async () => {
    const other = await makeOwner(t.db, t.client, 2, 'acct');
    const id = await asUser(
      t.client,
      other.userId,
      async (c) =>
        (await c.query(
          `select (public.create_campaign(p_name => 'a', p_channel_ids => $1::uuid[], p_message => '{"text":"x"}')).id`,
          [other.channelIds],
        )).rows[0].id as string,
    );
    const e = await sqlError(
      t.client,
      other.userId,
      (c) => c.query('delete from public.telegram_accounts where id = $1', [other.accountId]),
    );
    expect(e.code).toBe('PT409');
    expect(e.message).toContain('cancel them first');
    await asUser(t.client, other.userId, (c) => c.query('select public.cancel_campaign($1)', [id]));
    await asUser(t.client, other.userId, (c) => c.query('delete from public.telegram_accounts where id = $1', [other.accountId]));
    expect(await campaignRow(id)).toMatchObject({ state: 'cancelled', account_id: null });
    // its pg-boss queue went with it
    const q = await t.client.query('select count(*)::int n from pgboss.queue where name = $1', [`delivery.${other.accountId}`]);
    expect(q.rows[0].n).toBe(0);
  });

  it('are bounded per user (each brings a pg-boss queue)', async () => {
    const other = await makeOwner(t.db, t.client, 0, 'many');
    const e = await sqlError(
      t.client,
      other.userId,
      (c) => c.query(`insert into public.telegram_accounts (label) select 'a' || g from generate_series(1, 50) g`),
    );
    expect(e).toMatchObject({ code: 'PT422', message: 'at most 50 Telegram accounts per user' });
    const n = await t.client.query('select count(*)::int n from public.telegram_accounts where owner_id = $1', [other.userId]);
    expect(n.rows[0].n).toBe(1);
  });
});

describe('channels', () => {
  it('users write peer, title and tags; what Telegram resolved is the worker’s alone', async () => {
    await asUser(
      t.client,
      t.owner.userId,
      (c) => c.query(`update public.channels set title = 'ok' where id = $1`, [t.owner.channelIds[0]]),
    );
    const e = await sqlError(
      t.client,
      t.owner.userId,
      (c) => c.query(`update public.channels set telegram_id = 777, resolved_at = now() where id = $1`, [t.owner.channelIds[0]]),
    );
    expect(e.code).toBe('42501');
  });
});

describe('scheduled campaigns', () => {
  it('paused and resumed before their time go back to waiting for it', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const id = await newCampaign({ scheduledAt: at, channels: t.owner.channelIds.slice(0, 2) });
    await act('start_campaign', id);
    expect(await campaignRow(id)).toMatchObject({ state: 'scheduled', started_at: null });
    await act('pause_campaign', id);
    await act('resume_campaign', id);
    expect(await campaignRow(id)).toMatchObject({ state: 'scheduled', started_at: null });
    const jobs = await t.client.query(
      `select min(j.start_after) s from pgboss.job j join public.deliveries d on d.job_id = j.id where d.campaign_id = $1`,
      [id],
    );
    expect(jobs.rows[0].s.toISOString()).toBe(at);

    // a FLOOD_WAIT of the account pauses it too; when the wait ends it waits for its time again
    await asServiceRole(t.client, (c) => c.query('select public.worker_flood_wait($1, 1)', [t.owner.accountId]));
    expect(await campaignRow(id)).toMatchObject({ state: 'paused', pause_reason: 'flood_wait' });
    await t.client.query(`update public.telegram_accounts set flood_wait_until = now() - interval '1 s' where id = $1`, [
      t.owner.accountId,
    ]);
    await asServiceRole(t.client, (c) => c.query('select public.worker_resume_due($1)', [t.owner.accountId]));
    expect(await campaignRow(id)).toMatchObject({ state: 'scheduled', started_at: null });
  });
});
