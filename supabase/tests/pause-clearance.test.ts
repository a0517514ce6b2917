// worker_clearance and the stop in pause_campaign / cancel_campaign: from the moment a stop
// begins, every clearance asked for sees it, under way (its lock) or committed (the state), and
// the stop answers no sooner than a clearance given before it lasts.
import { describe, expect, it, vi } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { createCampaign, useOwnerDatabase } from './fixtures.ts';

const t = useOwnerDatabase(3, 'clr');

const clearance = async (ids: string[]) =>
  (await t.client.query('select public.worker_clearance($1::uuid[]) as c', [ids])).rows[0].c;

async function runningCampaign(): Promise<string> {
  return asUser(t.client, t.owner.userId, async (c) => {
    const id = await createCampaign(c, t.owner);
    await c.query('select public.start_campaign($1)', [id]);
    return id;
  });
}

/** Waits until some session holds the campaign's stop lock. */
async function stopUnderWay(id: string): Promise<void> {
  for (;;) {
    const { rows } = await t.client.query(
      `select 1 from pg_locks where locktype = 'advisory' and classid = 29811 and objsubid = 2
         and objid = hashtext($1::text)::oid`,
      [id],
    );
    if (rows.length) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('worker_clearance', () => {
  it("NOTIFYs 'campaign.<id>' on pg-boss's channel when a campaign stops running, with the commit", async () => {
    const id = await runningCampaign();
    const listener = await t.db.connect();
    const payloads: string[] = [];
    listener.on('notification', (n) => payloads.push(n.payload ?? ''));
    await listener.query(`listen "${(await listener.query('select private.pgboss_notify_channel() as c')).rows[0].c}"`);
    await asUser(t.client, t.owner.userId, (c) => c.query('select public.pause_campaign($1)', [id]));
    await vi.waitFor(() => expect(payloads).toContain(`campaign.${id}`), { timeout: 10_000 });
    payloads.length = 0;
    await asUser(t.client, t.owner.userId, (c) => c.query('select public.resume_campaign($1)', [id]));
    await listener.query('select 1'); // a round trip after the commit: its notification would be here
    expect(payloads.filter((p) => p.startsWith('campaign.'))).toEqual([]);
  });

  it('clears running campaigns only; a draft and an unknown campaign are stopped', async () => {
    const running = await runningCampaign();
    const draft = await asUser(t.client, t.owner.userId, (c) => createCampaign(c, t.owner));
    const unknown = '00000000-0000-4000-8000-000000000000';
    // Actions on sent posts: any campaign not paused may act (a draft has none); an unknown one may not.
    expect(await clearance([running, draft, unknown])).toEqual({
      validMs: 800,
      running: [running],
      stopped: [draft, unknown],
      acting: [running, draft],
      paused: [unknown],
      actionsOver: [],
    });
  });

  it.each(['pause', 'cancel'])('%s: not cleared while under way, stopped once answered, after validMs', async (action) => {
    const id = await runningCampaign();
    const owner = await t.db.connect();
    const asked = performance.now();
    const answer = asUser(owner, t.owner.userId, (c) => c.query(`select public.${action}_campaign($1)`, [id]));
    await stopUnderWay(id);
    const none = { validMs: 800, running: [], stopped: [], acting: [], paused: [], actionsOver: [] };
    expect(await clearance([id])).toEqual(none);
    await answer;
    // A lower bound only: the stop waited out every clearance given before it began.
    expect(performance.now() - asked).toBeGreaterThanOrEqual(800);
    // A cancelled campaign's posts may still be acted on (e.g. deleted); a paused one's may not.
    const actions = action === 'pause' ? { paused: [id] } : { acting: [id] };
    expect(await clearance([id])).toEqual({ ...none, stopped: [id], ...actions });
  });
});
