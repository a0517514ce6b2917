// Edits and deletes across worker crashes: the worker process is SIGKILLed while it edits a
// campaign's posts (some edits carried out by Telegram and not yet recorded), a new one takes
// over, and every post is edited exactly once to the new version; the same for deleting them. The
// simulator keeps its messages and the actions it carried out in Postgres (telegram_sim.actions),
// outside the killed processes.
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { asUser } from '../../scripts/test/db.ts';
import { addChannels, createCampaign, createWorld, waitFor, waitForState, type World } from './fixtures.ts';
import { simulatorEnv, workerProcesses } from './worker-processes.ts';

const workers = workerProcesses();

/** The worker as its own process on the simulator, which keeps its messages in the test's database. */
const worker = async (w: World) => (await workers.start(simulatorEnv(w))).child;

const counted = async (w: World, id: string, what: 'edited' | 'deleted') =>
  (await w.sql.query(`select (action_counts ->> $2)::int as n from public.campaigns where id = $1`, [id, what])).rows[0]
    .n ?? 0;

/** Waits until `n` of the campaign's posts are `what`, kills the worker, and says how many Telegram carried out by then. */
async function killAfter(w: World, id: string, child: ChildProcess, what: 'edited' | 'deleted', n: number) {
  await waitFor(`${n} ${what}`, async () => (await counted(w, id, what)) >= n, 30_000, 10);
  await workers.kill(child);
  const kind = what === 'edited' ? 'edit' : 'delete';
  const done = await w.sql.query('select count(*)::int as n from telegram_sim.actions where kind = $1', [kind]);
  return { recorded: await counted(w, id, what), carriedOut: done.rows[0].n as number };
}

/** How many times Telegram carried out `kind` on each posted message. */
async function perMessage(w: World, kind: string): Promise<number[]> {
  const { rows } = await w.sql.query(
    `select count(a.*)::int as n from telegram_sim.messages m
     left join telegram_sim.actions a on a.message_id = m.message_id and a.kind = $1 group by m.message_id`,
    [kind],
  );
  return rows.map((r) => r.n);
}

describe('edits and deletes across worker crashes', () => {
  it(
    'SIGKILL mid-edit and mid-delete, a new worker each time: each post edited once to the new version, deleted once',
    async () => {
      const N = 300;
      // 100 edits a second: the kill lands with a few edits between Telegram's answer and the record
      const w = await createWorld({ ratePerMinute: 6000 });
      const { ids } = await addChannels(w, N);
      const id = await createCampaign(w, { channelIds: ids, text: 'v1' });
      const first = await worker(w);
      await waitForState(w, id, 'completed', 60_000);
      await asUser(w.sql, w.userId, (t) => t.query(`select public.edit_campaign_message($1, '{"text":"v2"}')`, [id]));
      const atEditKill = await killAfter(w, id, first, 'edited', 40);
      expect(atEditKill.recorded).toBeLessThan(N);

      const second = await worker(w);
      await waitFor('every edit recorded', async () => (await counted(w, id, 'edited')) === N || undefined, 60_000);
      expect(await perMessage(w, 'edit')).toEqual(Array(N).fill(1));
      const texts = await w.sql.query(`select distinct text from telegram_sim.messages`);
      expect(texts.rows).toEqual([{ text: 'v2' }]);

      await asUser(w.sql, w.userId, (t) => t.query('select public.delete_campaign_posts($1)', [id]));
      const atDeleteKill = await killAfter(w, id, second, 'deleted', 40);
      expect(atDeleteKill.recorded).toBeLessThan(N);
      await worker(w);
      await waitFor('every delete recorded', async () => (await counted(w, id, 'deleted')) === N || undefined, 60_000);
      expect(await perMessage(w, 'delete')).toEqual(Array(N).fill(1));
      const c = (await w.sql.query('select action_counts from public.campaigns where id = $1', [id])).rows[0];
      expect(c.action_counts).toMatchObject({ edited: N, deleted: N, pending: 0, failed: {} });
      console.log(
        `at the kill mid-edit: ${atEditKill.carriedOut} edits carried out by Telegram, ${atEditKill.recorded} recorded; ` +
          `mid-delete: ${atDeleteKill.carriedOut} carried out, ${atDeleteKill.recorded} recorded`,
      );
    },
    120_000,
  );
});
