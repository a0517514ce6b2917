// Progress latency at a Realtime subscriber: from the commit of a send (the UPDATE of a delivery
// row, whose triggers move the counters and call realtime.send) to the progress event arriving in
// a supabase-js client subscribed with watchCampaign() through the local Realtime stand-in.
//
//   const r = await measureRealtimeLatency({ dbUrl, adminUrl, samples: 40 });
//   // → { p50Ms, p95Ms, samples: number[] }
//
// dbUrl: a migrated database as role postgres (with the local baseline); adminUrl: the same
// database as a superuser (to create the test user in auth.users). Sends are spaced past the
// 200 ms coalescing window, so each one is an event of its own.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createClient } from '@supabase/supabase-js';
import pg from 'pg';
import { type CampaignProgressEvent, watchCampaign } from '../../contracts/realtime.ts';
import { asUser, createUser } from '../lib/database.ts';
import { createRealtime } from '../realtime/server.ts';
import { mintApiKeys, mintUserToken } from '../stack/keys.ts';
import { sleep } from '../../contracts/time.ts';

export interface RealtimeLatencyOptions {
  dbUrl: string;
  adminUrl: string;
  /** Number of sends measured (default 40). */
  samples?: number;
  /** Pause between sends (default 250 ms, past the 200 ms coalescing window). */
  gapMs?: number;
}

export interface RealtimeLatency {
  p50Ms: number;
  p95Ms: number;
  samples: number[];
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** A user's running campaign with `targets` deliveries, made through the campaign RPCs. */
async function runningCampaign(c: pg.Client, owner: string, targets: number): Promise<{ id: string; deliveries: string[] }> {
  return await asUser(c, owner, async (t) => {
    await t.query(`insert into public.telegram_accounts (label) values ('latency')`);
    const peers = Array.from({ length: targets }, (_, i) => `@lat${randomBytes(4).toString('hex')}n${i}`);
    await t.query('select public.import_channels($1)', [peers]);
    const ids = (await t.query('select id from public.channels where peer = any($1)', [peers])).rows.map((r) => r.id);
    const id = (await t.query(
      `select (public.create_campaign(p_name => 'latency', p_channel_ids => $1,
      p_message => '{"text":"hi"}'::jsonb)).id`,
      [ids],
    )).rows[0].id as string;
    await t.query('select public.start_campaign($1)', [id]);
    const deliveries = (await t.query('select id from public.deliveries where campaign_id = $1 order by id', [id])).rows.map((
      r,
    ) => r.id as string);
    return { id, deliveries };
  });
}

export async function measureRealtimeLatency(o: RealtimeLatencyOptions): Promise<RealtimeLatency> {
  const n = o.samples ?? 40;
  const secret = randomBytes(32).toString('hex');
  const realtime = await createRealtime({ dbUrl: o.dbUrl, jwtSecret: secret });
  const server = createServer((_, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!realtime.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = new pg.Client({ connectionString: o.dbUrl });
  await c.connect();
  const owner = await createUser(o.adminUrl);
  const token = await mintUserToken(secret, { id: owner, email: `${owner.slice(0, 8)}@example.test` });
  const supabase = createClient(
    `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    (await mintApiKeys(secret)).anonKey,
    {
      accessToken: async () => token,
    },
  );
  try {
    const f = await runningCampaign(c, owner, n);
    let resolveNext: ((e: CampaignProgressEvent) => void) | undefined;
    let seen = 0;
    const watch = watchCampaign(supabase, f.id, (e) => {
      seen++;
      resolveNext?.(e);
    });
    for (const t = Date.now(); seen === 0; await sleep(10)) {
      if (Date.now() - t > 10_000) throw new Error('no replayed event within 10 s: is the subscriber authorized?');
    }
    const samples: number[] = [];
    for (const [i, id] of f.deliveries.entries()) {
      await sleep(o.gapMs ?? 250);
      const arrived = new Promise<number>((resolve) => {
        resolveNext = (e) => {
          if (e.sent === i + 1) resolve(performance.now());
        };
      });
      await c.query('begin');
      await c.query(
        `update public.deliveries set state = 'sent', attempts = attempts + 1, telegram_message_id = $2,
        sent_at = now() where id = $1`,
        [id, i + 1],
      );
      const t0 = performance.now();
      await c.query('commit');
      const t1 = await Promise.race([arrived, sleep(5000).then(() => NaN)]);
      if (Number.isNaN(t1)) throw new Error(`send ${i + 1}: no event within 5 s`);
      samples.push(t1 - t0);
    }
    await watch.unsubscribe();
    const sorted = [...samples].sort((a, b) => a - b);
    return { p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), samples };
  } finally {
    await supabase.removeAllChannels().catch(() => {});
    await c.end();
    await realtime.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
