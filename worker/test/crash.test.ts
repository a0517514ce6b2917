// kill -9 of the worker mid-campaign, then a restart: the simulator keeps its messages in
// Postgres (telegram_sim.messages), outside the killed process, so duplicates would show.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import {
  addChannels,
  campaign,
  createCampaign,
  createWorld,
  deliveryCounts,
  waitFor,
  waitForState,
  type World,
} from './fixtures.ts';

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.length = 0;
});

function spawnWorker(w: World, extraEnv: Record<string, string> = {}): ChildProcess {
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
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', () => {});
  child.stderr!.on('data', (d: Buffer) => {
    if (process.env.WORKER_TEST_LOG) process.stderr.write(d);
  });
  children.push(child);
  return child;
}

async function simCounts(sql: pg.Client): Promise<Map<string, number>> {
  const exists = await sql.query(`select to_regclass('telegram_sim.messages') as t`);
  if (!exists.rows[0].t) return new Map();
  const { rows } = await sql.query('select chat_id, count(*)::int as n from telegram_sim.messages group by chat_id');
  return new Map(rows.map((r) => [r.chat_id, r.n]));
}

describe('crash safety', () => {
  it('SIGKILL mid-campaign and restart: one message per target, counters equal the rows', async () => {
    const world = await createWorld({ ratePerMinute: 600 * 60 });
    const { ids } = await addChannels(world, 300);
    const id = await createCampaign(world, { channelIds: ids });
    const first = spawnWorker(world);
    await waitFor('some progress', async () => (await campaign(world, id)).sent_count >= 60, 30_000, 20);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = await campaign(world, id);
    expect(atKill.state).toBe('running');
    expect(atKill.pending_count).toBeGreaterThan(0);

    const second = spawnWorker(world);
    await waitForState(world, id, 'completed', 60_000);
    const c = await campaign(world, id);
    expect(c).toMatchObject({ total_count: 300, sent_count: 300, pending_count: 0, failed_count: 0 });
    expect(await deliveryCounts(world, id)).toEqual({ sent: 300 });
    const counts = await simCounts(world.sql);
    expect(counts.size).toBe(300);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    // the recorded message id is the one Telegram (the simulator) gave, for every delivery
    const { rows } = await world.sql.query(
      `select count(*)::int as n from public.deliveries d join public.channels ch on ch.id = d.channel_id
       join telegram_sim.messages m on m.chat_id = substr(ch.telegram_id::text, 5) and m.random_id = d.random_id::text
       where d.campaign_id = $1 and m.message_id = d.telegram_message_id`,
      [id],
    );
    expect(rows[0].n).toBe(300);

    // SIGTERM: graceful stop, exit code 0
    second.kill('SIGTERM');
    const code = await new Promise((r) => second.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  }, 90_000);

  it('refuses to start with a clear message when the configuration is invalid', async () => {
    const world = await createWorld();
    const child = spawnWorker(world, { TELEGRAM_MODE: 'gramjs', TELEGRAM_API_ID: 'abc' });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
    });
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/TELEGRAM_API_ID/);
  });
});
