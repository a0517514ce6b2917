// The worker as a process, hurt from outside: kill -9 mid-campaign then a restart (the simulator
// keeps its messages in Postgres, telegram_sim.messages, outside the killed process, so
// duplicates would show), a database connection that dies mid-transaction, a database that no
// longer answers when SIGTERM comes, and a parent that goes away.
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startTcpProxy } from '../../scripts/faults/tcp-proxy.ts';
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
import { simulatorEnv, workerProcesses } from './worker-processes.ts';

// Every test's workers are SIGKILLed when it ends, whether it passed or failed, and all of them if this process exits.
const workers = workerProcesses();

const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve(c.exitCode ?? c.signalCode)
    : new Promise<number | string | null>((r) => c.once('exit', (code, signal) => r(code ?? signal)));

function spawnWorker(w: World, extraEnv: Record<string, string> = {}): ChildProcess {
  return workers.spawn({ ...simulatorEnv(w), LOG_LEVEL: 'warn', ...extraEnv }).child;
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
    expect(await exited(second)).toBe(0);
  }, 90_000);

  it('a database connection that dies mid-transaction does not end the worker', async () => {
    const world = await createWorld({ ratePerMinute: 600 * 60 });
    const { ids } = await addChannels(world, 40);
    // The first commit of a sent delivery waits on an advisory lock this test holds, so the
    // recorder's connection is checked out of its pool when the server ends it.
    const admin = await world.db.connectAdmin();
    await admin.query(`
      create function public.test_hold_record() returns trigger language plpgsql as
        $$ begin perform pg_advisory_xact_lock(4242); return new; end $$;
      create trigger test_hold_record before update on public.deliveries
        for each row when (new.state = 'sent' and old.state <> 'sent') execute function public.test_hold_record();
      select pg_advisory_lock(4242);`);
    const child = spawnWorker(world);
    const id = await createCampaign(world, { channelIds: ids });
    const pid = await waitFor('the recorder waiting on the lock', async () => {
      const { rows } = await admin.query(
        `select pid from pg_stat_activity where datname = $1 and application_name = 'tg-worker' and wait_event = 'advisory'`,
        [world.db.name],
      );
      return rows[0]?.pid as number | undefined;
    }, 30_000);
    await admin.query('select pg_terminate_backend($1)', [pid]);
    await admin.query('select pg_advisory_unlock(4242)');
    await waitForState(world, id, 'completed', 60_000);
    expect(child.exitCode).toBeNull();
    expect(await deliveryCounts(world, id)).toEqual({ sent: 40 });
    const counts = await simCounts(world.sql);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
    expect(counts.size).toBe(40);
    await admin.end();
  }, 90_000);

  it('SIGTERM ends within SEND_TIMEOUT_MS + 15 s while the database does not answer', async () => {
    const world = await createWorld({ ratePerMinute: 60 });
    const { ids } = await addChannels(world, 20);
    const u = new URL(world.db.url);
    const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
    try {
      // The simulator's store stays reachable (it is Telegram's, not ours): only our database goes.
      const child = spawnWorker(world, {
        DATABASE_URL: proxy.url(world.db.url),
        SEND_TIMEOUT_MS: '1000',
        WORKER_HTTP_PORT: '0',
      });
      const id = await createCampaign(world, { channelIds: ids });
      await waitFor('a send', async () => (await campaign(world, id)).sent_count >= 1, 30_000);
      proxy.blackhole(true); // every connection, and any new one, goes silent
      child.kill('SIGTERM');
      // The documented bound, and a few seconds for a loaded machine to schedule the exit.
      const limitMs = 1000 + 15_000 + 5_000;
      const code = await Promise.race([exited(child), new Promise((r) => setTimeout(() => r('still running'), limitMs))]);
      expect(code).not.toBe('still running');
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it('stops by itself when the process that started it goes away', async () => {
    const world = await createWorld();
    const child = spawnWorker(world, { WORKER_HTTP_PORT: '0' });
    await waitFor('the worker holding its account', async () => {
      const { rows } = await world.sql.query(
        `select 1 from pg_stat_activity where datname = $1 and application_name = 'tg-worker locks'`,
        [world.db.name],
      );
      return rows.length > 0;
    }, 30_000);
    child.disconnect(); // what a parent's death does to the channel
    expect(await exited(child)).toBe(0);
  }, 60_000);

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
