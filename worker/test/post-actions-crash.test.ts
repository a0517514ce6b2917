// Edits across a worker crash: the worker process is SIGKILLed while it edits a campaign's posts
// (some edits carried out by Telegram and not yet recorded), a new one takes over, and every post
// is edited exactly once to the new version. The simulator keeps its messages and the edits it
// carried out in Postgres (telegram_sim.actions), outside the killed process.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import { asUser } from '../../scripts/test/db.ts';
import { addChannels, createCampaign, createWorld, waitFor, waitForState, type World } from './fixtures.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** The worker as a process on the simulator, its messages in the test's database. */
function worker(w: World): ChildProcess {
  const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), ['worker/src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: w.db.url,
      TELEGRAM_MODE: 'simulator',
      TELEGRAM_ACCOUNTS: JSON.stringify([{ accountId: w.accountId }]),
      SIMULATOR_DATABASE_URL: w.db.url,
      SIMULATOR_CONFIG: JSON.stringify({ accountPerSecond: 10_000, latencyMs: [1, 3] }),
      WORKER_HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      SUPERVISE_SECONDS: '2',
      POLLING_SECONDS: '1',
    },
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  child.channel?.unref();
  children.push(child);
  return child;
}

const edited = async (w: World, id: string) =>
  (await w.sql.query(`select (action_counts ->> 'edited')::int as n from public.campaigns where id = $1`, [id])).rows[0].n ?? 0;

describe('edits across a worker crash', () => {
  it('SIGKILL mid-edit and a new worker: each post edited once to the new version', async () => {
    const N = 300;
    // 100 edits a second: the kill lands with a few edits between Telegram's answer and the record
    const w = await createWorld({ ratePerMinute: 6000 });
    const { ids } = await addChannels(w, N);
    const id = await createCampaign(w, { channelIds: ids, text: 'v1' });
    const first = worker(w);
    await waitForState(w, id, 'completed', 60_000);
    await asUser(w.sql, w.userId, (t) => t.query(`select public.edit_campaign_message($1, '{"text":"v2"}')`, [id]));
    await waitFor('some edits recorded', async () => (await edited(w, id)) >= 40, 30_000, 10);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = {
      recorded: await edited(w, id),
      carriedOut: (await w.sql.query('select count(*)::int as n from telegram_sim.actions')).rows[0].n,
    };
    expect(atKill.recorded).toBeLessThan(N);

    worker(w);
    await waitFor('every edit recorded', async () => (await edited(w, id)) === N || undefined, 60_000);
    const { rows } = await w.sql.query(
      `select m.message_id, count(a.*)::int as edits, min(a.text) as text
       from telegram_sim.messages m left join telegram_sim.actions a on a.message_id = m.message_id and a.kind = 'edit'
       group by m.message_id`,
    );
    expect(rows.length).toBe(N);
    expect(rows.filter((r) => r.edits !== 1 || r.text !== 'v2')).toEqual([]);
    const c = (await w.sql.query('select action_counts from public.campaigns where id = $1', [id])).rows[0];
    expect(c.action_counts).toMatchObject({ edited: N, pending: 0, failed: {} });
    console.log(`edits at the kill: ${atKill.carriedOut} carried out by Telegram, ${atKill.recorded} recorded`);
  }, 120_000);
});
