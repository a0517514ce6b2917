// Test world for webhooks: the functions over HTTP and the worker on one database, a loopback
// receiver that answers each call as the test scripts it, and the documented verification
// snippets extracted from the function's README.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { onTestFinished } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import { type ApiFixture, startApi, type User } from '../../supabase/tests/functions-fixture.ts';
import { addAccount, type World } from './fixtures.ts';

export interface Arrival {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  answer: Behaviour;
}
/** fail: 500; hang: never answers (the worker times out); hold: answers 200 when released. */
export type Behaviour = 'ok' | 'fail' | 'hang' | 'redirect' | 'hold';

export interface Receiver {
  url: string;
  arrivals: Arrival[];
  /** Behaviours for the next calls, in order; 'ok' once they run out. */
  script: Behaviour[];
  /** Answers every held call with 200. */
  release(): void;
  close(): Promise<void>;
}

export async function startReceiver(script: Behaviour[] = []): Promise<Receiver> {
  const arrivals: Arrival[] = [];
  const held: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = r.script.shift() ?? 'ok';
      arrivals.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answer });
      if (answer === 'ok') res.end('thanks');
      else if (answer === 'fail') res.writeHead(500).end('broken');
      else if (answer === 'redirect') res.writeHead(307, { location: `${r.url}/elsewhere` }).end();
      else if (answer === 'hold') held.push(() => res.end('late'));
      // 'hang': no answer at all
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const r: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrivals,
    script,
    release: () => held.splice(0).forEach((f) => f()),
    close: () => {
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
  onTestFinished(() => r.close());
  return r;
}

export interface WebhookWorld extends World {
  api: ApiFixture;
  user: User;
}

/**
 * The functions on a fresh database, a user with an account, loopback targets allowed at
 * registration, and a retry schedule of seconds: 1 to 2 s between attempts.
 */
export async function createWebhookWorld(o: { expireSeconds?: number; productionRetries?: boolean } = {}): Promise<WebhookWorld> {
  const api = await startApi();
  onTestFinished(() => api.stop());
  const user = await api.newUser();
  const sql = await api.db.connect();
  const admin = await api.db.connectAdmin();
  await admin.query('update private.webhook_settings set allow_private_targets = true');
  if (!o.productionRetries) {
    await admin.query(
      `update pgboss.queue set retry_delay = 1, retry_delay_max = 2, expire_seconds = $1 where name = 'webhooks'`,
      [o.expireSeconds ?? 60],
    );
  }
  const accountId = await addAccount(sql, user.id, 6000);
  return { api, user, db: api.db, sql, userId: user.id, accountId };
}

/** The fenced block of the function's README whose info string is `<lang> <name>`. */
export function documentedSnippet(name: 'verify-node' | 'verify-deno'): string {
  const md = readFileSync(join(REPO_ROOT, 'supabase/functions/webhooks/README.md'), 'utf8');
  const m = new RegExp('^```\\w+ ' + name + '\\n([\\s\\S]*?)^```$', 'm').exec(md);
  if (!m) throw new Error(`no ${name} block in the README`);
  return m[1]!;
}

export interface VerifyCase {
  secret: string;
  header: string | undefined;
  body: string;
  now?: number;
}

/** Runs the Node snippet, as documented, in this process. */
export async function verifyWithNodeSnippet(cases: VerifyCase[]): Promise<boolean[]> {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-verify-'));
  const file = join(dir, 'verify.mjs');
  writeFileSync(file, documentedSnippet('verify-node'));
  const { verifyWebhook } = await import(file);
  return cases.map((c) => verifyWebhook(c.secret, c.header, c.body, ...(c.now === undefined ? [] : [c.now])));
}

/** Runs the Deno snippet, as documented, in Deno. */
export async function verifyWithDenoSnippet(cases: VerifyCase[]): Promise<boolean[]> {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-verify-'));
  writeFileSync(join(dir, 'verify.ts'), documentedSnippet('verify-deno'));
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
  writeFileSync(
    join(dir, 'run.ts'),
    `import { verifyWebhook } from './verify.ts';
const cases = JSON.parse(await Deno.readTextFile(new URL('./cases.json', import.meta.url)));
const out = [];
for (const c of cases) out.push(await verifyWebhook(c.secret, c.header ?? null, c.body, ...(c.now === undefined ? [] : [c.now])));
console.log(JSON.stringify(out));`,
  );
  const { stdout } = await promisify(execFile)(
    join(REPO_ROOT, 'node_modules/.bin/deno'),
    ['run', '--quiet', '--no-config', '--allow-read', join(dir, 'run.ts')],
    { env: { ...process.env, NO_COLOR: '1' } },
  );
  return JSON.parse(stdout.trim());
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
