// resume_campaign for a campaign its account stopped (pause reason 'account'): after PEER_FLOOD
// (status limited) the owner's resume makes the account active again; a revoked session is
// refused with 409.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { asUser, createTestDatabase, type TestDatabase } from '../../scripts/test/db.ts';
import { createCampaign, makeOwner, type Owner, sqlError } from './fixtures.ts';

let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  client = await db.connect();
});
afterAll(async () => {
  await db.drop();
});

/** A running campaign of a fresh owner whose account the worker then stops with `status`. */
async function stoppedBy(status: 'limited' | 'revoked', tag: string): Promise<{ owner: Owner; id: string }> {
  const owner = await makeOwner(db, client, 3, tag);
  const id = await asUser(client, owner.userId, async (c) => {
    const campaignId = await createCampaign(c, owner);
    await c.query('select public.start_campaign($1)', [campaignId]);
    return campaignId;
  });
  await client.query('select public.worker_account_status($1, $2, $3)', [
    owner.accountId,
    status,
    `${status.toUpperCase()}: test`,
  ]);
  return { owner, id };
}

const state = async (_owner: Owner, id: string) =>
  (await client.query(
    `select c.state, c.pause_reason, a.status as account_status, a.status_reason,
     (select count(*)::int from pgboss.job j join public.deliveries d on d.job_id = j.id
       where d.campaign_id = c.id and j.state = 'created') as live_jobs
   from public.campaigns c join public.telegram_accounts a on a.id = c.account_id where c.id = $1`,
    [id],
  )).rows[0];

describe('resume_campaign after the account stopped', () => {
  it('PEER_FLOOD: the owner resumes, the account is active again and the campaign runs with a job per pending delivery', async () => {
    const { owner, id } = await stoppedBy('limited', 'pf');
    expect(await state(owner, id)).toMatchObject({
      state: 'paused',
      pause_reason: 'account',
      account_status: 'limited',
      live_jobs: 0,
    });
    await asUser(client, owner.userId, (c) => c.query('select public.resume_campaign($1)', [id]));
    expect(await state(owner, id)).toEqual({
      state: 'running',
      pause_reason: null,
      account_status: 'active',
      status_reason: null,
      live_jobs: 3,
    });
    const audit = await client.query(
      `select action, before, after from public.audit_log where entity_id = $1 and action = 'reactivate'`,
      [owner.accountId],
    );
    expect(audit.rows).toEqual([{
      action: 'reactivate',
      before: { status: 'limited', statusReason: 'LIMITED: test' },
      after: { status: 'active' },
    }]);
  });

  it('revoked session: 409 telling the owner to sign the account in again through the API; nothing changes', async () => {
    const { owner, id } = await stoppedBy('revoked', 'rv');
    const e = await sqlError(client, owner.userId, (c) => c.query('select public.resume_campaign($1)', [id]));
    expect(e.code).toBe('PT409');
    expect(e.message).toContain(`POST /accounts/${owner.accountId}/login`);
    expect(e.message).toContain(`npm run login -- --api <functions URL> --account ${owner.accountId}`);
    expect(e.message).toContain('REVOKED: test');
    expect(e.message).not.toContain('TELEGRAM_ACCOUNTS');
    expect(e.message).not.toMatch(/restart/);
    expect(JSON.parse(e.detail!)).toMatchObject({ from: 'paused', to: 'running', action: 'resume', accountStatus: 'revoked' });
    expect(await state(owner, id)).toMatchObject({
      state: 'paused',
      pause_reason: 'account',
      account_status: 'revoked',
      live_jobs: 0,
    });
  });

  it('other pause reasons leave the account alone', async () => {
    const owner = await makeOwner(db, client, 2, 'mp');
    const id = await asUser(client, owner.userId, async (c) => {
      const campaignId = await createCampaign(c, owner);
      await c.query('select public.start_campaign($1)', [campaignId]);
      await c.query('select public.pause_campaign($1)', [campaignId]);
      return campaignId;
    });
    // the account stopped for another campaign's send, this one was paused by hand before
    await client.query(`update public.telegram_accounts set status = 'limited' where id = $1`, [owner.accountId]);
    await asUser(client, owner.userId, (c) => c.query('select public.resume_campaign($1)', [id]));
    expect(await state(owner, id)).toMatchObject({ state: 'running', account_status: 'limited' });
  });
});
