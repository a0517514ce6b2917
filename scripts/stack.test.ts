// `npm start` and `npm run demo` as a user runs them: real child processes, in a temporary
// stack directory on free ports (so a developer's .local/ and running stack are untouched).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import { jwtVerify } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './lib/migrate.ts';
import type { Campaign } from '../contracts/api/campaigns.ts';
import { apiFor, mapLimit } from './stack/api.ts';
import { followCampaign } from './stack/campaign.ts';
import { loadOrCreateSessionKey } from './stack/telegram.ts';
import { standInPosts } from './stack/telegram-accounts.ts';
import type { StackInfo } from './stack/index.ts';
import { NODE_BIN } from './stack/process.ts';
import { standInClient } from './telegram/client.ts';
import type { StandInEntry } from './telegram/mtproto/server.ts';
import { createChannel, history, post, resolveChannel } from './telegram/testing.ts';

interface Run {
  child: ChildProcess;
  out: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

function run(script: string, args: string[]): Run {
  const child = spawn(NODE_BIN, [join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => out, stdout: () => stdout, exited };
}

async function waitForFile(file: string, r: Run, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: number | null | undefined;
  void r.exited.then((c) => {
    exit = c;
  });
  while (!existsSync(file)) {
    if (exit !== undefined) throw new Error(`exited (${exit}) before writing ${file}:\n${r.out()}`);
    if (Date.now() > deadline) throw new Error(`no ${file} after ${timeoutMs} ms:\n${r.out()}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function startAndRead(dir: string, extra: string[] = []): Promise<{ r: Run; info: StackInfo; seconds: number }> {
  const t0 = Date.now();
  const r = run('scripts/stack.ts', ['--dir', dir, '--ports', 'auto', '--quiet', ...extra]);
  await waitForFile(join(dir, 'stack.json'), r, 90_000);
  return { r, info: JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as StackInfo, seconds: (Date.now() - t0) / 1000 };
}

async function stop(r: Run): Promise<number | null> {
  r.child.kill('SIGTERM');
  return await r.exited;
}

const seconds = (from: string, to: string | null) => to ? ((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1) : '-';

async function portOpen(url: string): Promise<boolean> {
  return await fetch(url, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
}

/** A test number of DC 2 the stack does not hand out to its own accounts (those count up from 0001). */
const OWN_PHONE = '9996629001';

/**
 * A plain GramJS client given only stack.json's `telegram` entry, as a user would make one: a
 * new session signs in with a test number (the code is the DC's digit five times), a stored one
 * just connects. Every FLOOD_WAIT is an error, never slept through.
 */
async function stackClient(entry: StandInEntry, session?: string) {
  const client = standInClient(entry, { session, dcId: 2, params: { floodSleepThreshold: 0 } });
  if (session) await client.connect();
  else {
    await client.start({
      phoneNumber: OWN_PHONE,
      phoneCode: async () => '22222',
      firstAndLastNames: async () => ['Stack test', ''],
      onError: async (err) => {
        throw err;
      },
    });
  }
  return client;
}

describe('npm start / npm run demo', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tg-stack-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  let first: StackInfo;
  let markerChannel: string;
  let ownSession: string;

  it('starts, prints the status, writes stack.json, serves the API, stops on SIGTERM', async () => {
    const { r, info, seconds } = await startAndRead(dir, ['--fresh']);
    first = info;
    console.log(`[stack.test] first start ready in ${seconds.toFixed(1)} s`);
    try {
      for (
        const k of [
          'apiUrl',
          'functionsUrl',
          'dbUrl',
          'jwtSecret',
          'anonKey',
          'serviceRoleKey',
          'demoUserId',
          'demoToken',
        ] as const
      ) {
        expect(info[k], k).toEqual(expect.any(String));
      }
      expect(info.functionsUrl).toBe(`${info.apiUrl}/functions/v1`);
      await expect.poll(() => r.out(), { timeout: 5000 }).toMatch(/Demo token: ey/);
      expect(r.out()).toContain(`API URL: ${info.apiUrl}`);
      // One supabase-js client on the API URL reaches the functions and Realtime.
      const supabase = createClient(info.apiUrl, info.anonKey, { accessToken: async () => info.demoToken });
      const { data, error } = await supabase.functions.invoke('channels', { method: 'GET' });
      expect(error).toBeNull();
      expect((data as { items: unknown[] }).items.length).toBeGreaterThanOrEqual(3);
      await supabase.realtime.setAuth();
      const refused = await new Promise<string>((resolve) => {
        supabase.channel(`campaign:${randomUUID()}`, { config: { private: true } }).subscribe((status, err) =>
          resolve(`${status} ${err?.message}`)
        );
      });
      expect(refused).toMatch(/^CHANNEL_ERROR Unauthorized: You do not have permissions to read from this Channel topic/);
      await supabase.removeAllChannels();
      const secret = new TextEncoder().encode(info.jwtSecret);
      expect((await jwtVerify(info.anonKey, secret)).payload).toMatchObject({ role: 'anon' });
      expect((await jwtVerify(info.serviceRoleKey, secret)).payload).toMatchObject({ role: 'service_role' });
      expect((await jwtVerify(info.demoToken, secret, { audience: 'authenticated' })).payload)
        .toMatchObject({ sub: info.demoUserId, role: 'authenticated' });

      // The demo user's starter data, through the API as a client sees it.
      const api = apiFor(info);
      const channels = await api.call<{ items: Array<{ peer: string }> }>('GET', '/channels?limit=50');
      expect(channels.items.length).toBeGreaterThanOrEqual(3);
      expect((await api.call<{ items: unknown[] }>('GET', '/templates')).items.length).toBeGreaterThanOrEqual(1);
      expect((await api.call<{ items: unknown[] }>('GET', '/accounts')).items).toHaveLength(1);
      markerChannel = (await api.call<{ id: string }>('POST', '/channels', { peer: '@kept_across_restarts' })).id;
      expect(await portOpen(info.webUrl)).toBe(true);

      // Telegram is the stand-in: stack.json's entry is all a GramJS client needs.
      expect(r.out()).toMatch(/Telegram: stand-in over MTProto \(DC 1 127\.0\.0\.1:\d+/);
      expect(info.telegram!.dcs.map((d) => d.id)).toEqual([1, 2, 3]);
      for (const d of info.telegram!.dcs) expect(d.port).toBeLessThan(32768); // StringSession's signed 16-bit port
      const client = await stackClient(info.telegram!);
      try {
        const channel = await createChannel(client, { username: 'made_by_a_client' });
        await post(client, channel, 'posted before the restart');
        expect((await history(client, channel)).map((m) => m.message)).toEqual(['posted before the restart']);
        ownSession = client.session.save() as unknown as string;
      } finally {
        await client.destroy();
      }
    } finally {
      expect(await stop(r), r.out()).toBe(0);
    }
    expect(existsSync(join(dir, 'stack.json'))).toBe(false);
    expect(await portOpen(first.functionsUrl)).toBe(false);
    expect(await portOpen(first.webUrl)).toBe(false);
    // Postgres is down too: a new connection is refused.
    await expect(new pg.Client({ connectionString: first.dbUrl }).connect()).rejects.toThrow();
  }, 150_000);

  it('reuses the data, JWT secret and demo user on the next start', async () => {
    const { r, info, seconds } = await startAndRead(dir);
    console.log(`[stack.test] second start ready in ${seconds.toFixed(1)} s`);
    try {
      expect(info.jwtSecret).toBe(first.jwtSecret);
      expect(info.demoUserId).toBe(first.demoUserId);
      expect(info.anonKey.split('.')[0]).toBe(first.anonKey.split('.')[0]);
      const got = await apiFor(info).call<{ peer: string }>('GET', `/channels/${markerChannel}`);
      expect(got.peer).toBe('@kept_across_restarts');
      // The old token still works (same secret).
      await apiFor({ ...info, demoToken: first.demoToken }).call('GET', '/campaigns?limit=1');

      // The stand-in kept its key, its auth keys and its channels: the session of the first run
      // connects without signing in again and finds its channel and post; it posts again.
      expect(info.telegram!.publicKeyPem).toBe(first.telegram!.publicKeyPem);
      const client = await stackClient(info.telegram!, ownSession);
      try {
        const channel = await resolveChannel(client, 'made_by_a_client');
        await post(client, channel, 'posted after the restart');
        expect((await history(client, channel)).map((m) => m.message)).toEqual([
          'posted after the restart',
          'posted before the restart',
        ]);
      } finally {
        await client.destroy();
      }

      // npm run login -- --stack signs a test number in to the stand-in and prints its session alone.
      const login = run('scripts/login.ts', ['--stack', '--dir', dir, '--phone', '9996639002']);
      expect(await login.exited, login.out()).toBe(0);
      const printed = login.stdout().trim();
      expect(printed.split('\n')).toHaveLength(1);
      const loggedIn = standInClient(info.telegram!, { session: printed });
      try {
        await loggedIn.connect();
        expect((await loggedIn.getMe()).phone).toBe('9996639002');
      } finally {
        await loggedIn.destroy();
      }
    } finally {
      expect(await stop(r), r.out()).toBe(0);
    }
  }, 120_000);

  it('runs the demo: 100 targets sent, no duplicates, paced, exit 0, last line JSON', async () => {
    const t0 = Date.now();
    const r = run('scripts/demo.ts', ['--json', '--dir', dir, '--ports', 'auto']);
    const code = await r.exited;
    console.log(`[stack.test] demo took ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
    expect(code, r.out()).toBe(0);
    const lines = r.stdout().trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, number>;
    expect(summary).toMatchObject({ targets: 100, sent: 100, failed: 0, duplicates: 0, theoreticalSeconds: 5 });
    // Paced: not faster than the rate allows, and not far off the theoretical minimum.
    expect(summary.seconds).toBeGreaterThan(4); // the bucket may let a small burst go at once
    expect(summary.seconds).toBeLessThan(15);
    expect(existsSync(join(dir, 'stack.json'))).toBe(false); // the demo stopped its stack
  }, 150_000);

  it(
    'a second account of the same owner, made through the API while the stack runs, posts to the same 30 channels as the first: 60 of 60',
    async () => {
      const { r, info } = await startAndRead(dir);
      try {
        // Functions over HTTP with the demo user's JWT, as a client app calls them.
        const api = apiFor(info);
        const peers = Array.from({ length: 30 }, (_, i) => `@shared${randomUUID().slice(0, 8)}n${i}`);
        const channelIds = (await mapLimit(peers, 8, (peer) => api.call<{ id: string }>('POST', '/channels', { peer })))
          .map((c) => c.id);
        const second = await api.call<{ id: string }>('POST', '/accounts', { label: 'Second account', ratePerMinute: 1200 });
        const campaignOf = (accountId: string, text: string) =>
          api.call<Campaign>('POST', '/campaigns', {
            name: text,
            message: { text, parseMode: 'plain' },
            channelIds,
            accountId,
            ratePerMinute: 600,
          });
        const campaigns = [
          await campaignOf(info.demoAccountId, 'from the first account'),
          await campaignOf(second.id, 'from the second account'),
        ];
        for (const c of campaigns) await api.call('POST', `/campaigns/${c.id}/start`);
        const done = await Promise.all(campaigns.map((c) => followCampaign(api, c.id, () => {}, { timeoutMs: 90_000 })));
        console.log(
          `[stack.test] second account: ${done.map((c) => c.counts.sent).join(' + ')} of 60 sent, the second campaign completed ${
            seconds(campaigns[1]!.createdAt, done[1]!.completedAt)
          } s after it was made`,
        );
        expect(done.map((c) => c.state)).toEqual(['completed', 'completed']);
        expect(done.map((c) => [c.counts.sent, c.counts.failed])).toEqual([[30, 0], [30, 0]]);

        // What Telegram holds, read back through MTProto by the first account: in each channel one
        // post of its own and one of the second account, each posted with that account's own access hash.
        const posts = await standInPosts({
          entry: info.telegram!,
          key: (await loadOrCreateSessionKey(join(dir, 'telegram'))).key,
          dbUrl: info.dbUrl,
          accountId: info.demoAccountId,
          channelIds,
        });
        expect(posts).toHaveLength(30);
        for (const inChannel of posts) {
          expect(inChannel.map((m) => `${m.out ? 'own' : 'other'}: ${m.text}`).sort()).toEqual([
            'other: from the second account',
            'own: from the first account',
          ]);
        }
        const hashes = new pg.Client({ connectionString: info.dbUrl });
        await hashes.connect();
        try {
          const { rows } = await hashes.query<{ accounts: number; distinct_hashes: number }>(
            `select count(distinct account_id)::int accounts, count(distinct (channel_id, access_hash))::int distinct_hashes
             from private.account_peers where channel_id = any($1::uuid[])`,
            [channelIds],
          );
          expect(rows[0]).toEqual({ accounts: 2, distinct_hashes: 60 });
        } finally {
          await hashes.end();
        }
      } finally {
        expect(await stop(r), r.out()).toBe(0);
      }
    },
    180_000,
  );
});
