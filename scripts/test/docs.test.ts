// The documentation against the repository: every relative link reaches a file (and heading) that
// exists, every npm command it names is a script of package.json, and the README's SQL for the
// functions' database role, run as `postgres` (not a superuser, as on hosted Supabase), makes a
// role that can become `authenticated` and nothing else. And worker/README.md's account of what
// GramJS's invoke does by itself holds for the installed GramJS (the simulator sits below invoke).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { SignJWT } from 'jose';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classify } from '../../worker/src/errors.ts';
import { GramJsGateway } from '../../worker/src/gateway/gramjs-gateway.ts';
import type { OutgoingMessage } from '../../worker/src/gateway/types.ts';
import { simulatedClient } from '../../worker/src/simulator/simulated-client.ts';
import { TelegramSimulator } from '../../worker/src/simulator/telegram-simulator.ts';
import { startFunctionsServer } from '../functions-server.ts';
import { REPO_ROOT } from '../lib/migrate.ts';
import { createTestDatabase } from './db.ts';

const DOCS = [
  'README.md',
  'CONTRIBUTING.md',
  'worker/README.md',
  'supabase/functions/README.md',
  ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
];
const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
/** The text outside fenced code blocks (links inside them are examples). */
const prose = (md: string) => md.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(md).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const slug = heading!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n ? `${slug}-${n}` : slug);
  }
  return out;
}

describe.each(DOCS)('%s', (file) => {
  it('every relative link points to an existing file and heading', () => {
    const broken: string[] = [];
    for (const [, target] of prose(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue;
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const abs = path ? join(REPO_ROOT, dirname(file), path) : join(REPO_ROOT, file);
      if (!existsSync(abs)) broken.push(`${target}: no such file`);
      else if (anchor && !anchors(readFileSync(abs, 'utf8')).has(anchor)) {
        broken.push(`${target}: no heading #${anchor} in ${relative(REPO_ROOT, abs)}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every npm command it names is a script of package.json', () => {
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    const named = [...read(file).matchAll(/\bnpm (start|test|run [\w:-]+)/g)].map((m) => m[1]!.replace(/^run /, ''));
    expect(named.filter((s) => !scripts.includes(s))).toEqual([]);
  });
});

it("the README's SQL for the functions' database role makes a role that can only become authenticated", async () => {
  const block = /### Functions' database role[\s\S]*?```sql\n([\s\S]*?)```/.exec(read('README.md'));
  expect(block, 'README.md has the section with its SQL').not.toBeNull();
  const role = `functions_api_readme_${process.pid}`;
  const sql = block![1]!.replaceAll('functions_api', role).replace(/'<[^']*>'/, `'${role}'`);
  const db = await createTestDatabase({ prefix: 'tg_docs' });
  const asPostgres = await db.connect();
  try {
    await asPostgres.query(sql);
    const url = new URL(db.url);
    url.username = role;
    url.password = role;
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    try {
      for (const denied of ['set role service_role', 'set role postgres', 'create role x', 'select * from public.channels']) {
        await expect(c.query(denied), denied).rejects.toMatchObject({ code: '42501' });
      }
      await c.query('set role authenticated');
      expect((await c.query('select current_user')).rows[0].current_user).toBe('authenticated');
    } finally {
      await c.end();
    }
  } finally {
    await asPostgres.query(`drop role if exists ${role}`).catch(() => {});
    await db.drop();
  }
});

it("without the functions' role, what the README says a call answers: 500 internal, the refused login in the log", async () => {
  const db = await createTestDatabase({ prefix: 'tg_docs' });
  const url = new URL(db.url);
  url.username = 'functions_api_never_created';
  const secret = 'a-docs-test-secret-of-at-least-32-characters';
  const log: string[] = [];
  const server = await startFunctionsServer({
    port: 0,
    env: { DATABASE_URL: url.toString(), SUPABASE_JWT_SECRET: secret },
    log: (line) => log.push(line),
  });
  try {
    const token = await new SignJWT({ sub: crypto.randomUUID(), role: 'authenticated', aud: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const res = await fetch(`${server.functionsUrl}/templates`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error: { code: 'internal' } });
    expect(log.join('\n')).toMatch(/functions_api_never_created/);
  } finally {
    await server.stop();
    await db.drop();
  }
});

describe('worker/README.md on GramJS: what one SendMessage answered with an RPC error becomes', () => {
  async function sendAnswered(error: string, code: number) {
    const sim = new TelegramSimulator({ targets: { '@docs': { error, code } } });
    const gateway = new GramJsGateway(simulatedClient(sim, crypto.randomUUID()), { connect: false });
    const peer = await gateway.resolvePeer('@docs');
    const message: OutgoingMessage = { peer, text: 'x', parseMode: 'plain', silent: false, linkPreview: false, randomId: '7' };
    return classify(await gateway.send(message).then(() => null, (e: unknown) => e));
  }
  it.each(
    [
      ['RPC_CALL_FAIL', 500, { kind: 'transient', code: 'RPC_CALL_FAIL', unknown: true }],
      ['MSG_WAIT_FAILED', 400, { kind: 'transient', code: 'MSG_WAIT_FAILED', unknown: false }],
      ['FLOOD_WAIT_0', 420, { kind: 'flood_wait', code: 'FLOOD_WAIT_0', seconds: 1 }],
      ['INTERNAL', 500, { kind: 'transient', code: 'INTERNAL', unknown: false }],
      ['CONNECTION_NOT_INITED', 400, { kind: 'transient', code: 'CONNECTION_NOT_INITED', unknown: false }],
      ['FLOOD_WAIT_5', 420, { kind: 'flood_wait', seconds: 5 }],
    ] as const,
  )('%s (%i)', async (error, code, expected) => {
    expect(await sendAnswered(error, code)).toMatchObject(expected);
  });
});
