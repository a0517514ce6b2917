// Every npm script explains itself: `npm run <script> -- --help` prints its usage and exits 0
// without starting anything. The scripts come from package.json, so a new one is covered at once.
// Each runs under scripts/test/forbid-side-effects.mjs: a child process (Postgres, Deno, the
// worker), a listening port or a network connection ends it with exit code 97, so "exits 0" also
// means "started nothing"; and the files the generators write keep their modification times.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './lib/migrate.ts';

const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts;
/** What a user types: `npm start` and `npm test` are npm's own shorthands. */
const typed = (name: string) => (name === 'start' || name === 'test' ? `npm ${name}` : `npm run ${name}`);
/** Scripts of this repository (node <file>); the others are third-party CLIs (tsc, vitest). */
const ours = (command: string) => /^node (scripts|worker)\//.test(command);

const GENERATED = [
  'contracts/openapi.json',
  'supabase/schema.sql',
  'supabase/migrations.sha256',
  'supabase/migrations/20261128000000_pgboss.sql',
].map((f) => join(REPO_ROOT, f));
const mtimes = () => GENERATED.map((f) => statSync(f).mtimeMs);

const stackDir = mkdtempSync(join(tmpdir(), 'tg-help-'));
rmSync(stackDir, { recursive: true });
afterAll(() => rmSync(stackDir, { recursive: true, force: true }));

const HELP_TIMEOUT_MS = 45_000;

/**
 * `npm run <name> -- --help` in its own process group, which is killed when it is done or after
 * HELP_TIMEOUT_MS, so a command that ignores --help and starts something leaves nothing behind.
 */
function help(name: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn('npm', ['run', '--silent', name, '--', '--help'], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      STACK_DIR: stackDir,
      FORBID_SIDE_EFFECTS_ROOT: REPO_ROOT,
      NODE_OPTIONS: `--import=${join(REPO_ROOT, 'scripts/test/forbid-side-effects.mjs')}`,
    },
  });
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch { /* already gone */ }
  };
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const timer = setTimeout(killGroup, HELP_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('close', (status) => {
      clearTimeout(timer);
      killGroup();
      resolve({ status, stdout, stderr });
    });
  });
}

it('package.json has the scripts the README and CONTRIBUTING document', () => {
  for (const s of ['start', 'demo', 'test', 'bench', 'faults', 'worker', 'login', 'functions', 'gen:schema', 'gen:openapi']) {
    expect(Object.keys(scripts)).toContain(s);
  }
});

describe.each(Object.entries(scripts))('%s', (name, command) => {
  it(`${typed(name)} -- --help prints its usage, exits 0 and starts nothing`, async () => {
    const before = mtimes();
    const r = await help(name);
    expect(r.stderr).not.toContain('FORBIDDEN');
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    if (ours(command)) expect(r.stdout.trimStart().toLowerCase()).toMatch(new RegExp(`^usage: ${typed(name)}\\b`));
    else expect(r.stdout.trim().length).toBeGreaterThan(0);
    expect(mtimes()).toEqual(before);
    expect(() => statSync(stackDir)).toThrow();
  });
});

/** `npm run demo -- --json --flood` in the docs → { demo: ['--json', '--flood'] }. */
function documentedFlags(): Map<string, Set<string>> {
  const docs = ['README.md', 'CONTRIBUTING.md', 'worker/README.md', 'supabase/functions/README.md'];
  const flags = new Map<string, Set<string>>();
  for (const file of docs) {
    for (const m of readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(/\bnpm (start|test|run [\w:-]+) -- ([^`\n|]*)/g)) {
      const name = m[1]!.replace(/^run /, '');
      for (const [flag] of m[2]!.matchAll(/--[a-z][\w-]*/g)) {
        if (!flags.has(name)) flags.set(name, new Set());
        flags.get(name)!.add(flag);
      }
    }
  }
  return flags;
}

describe.each([...documentedFlags()].map(([name, flags]) => [name, [...flags]] as const))('%s', (name, flags) => {
  it(`the flags the docs give it (${flags.join(' ')}) are in its usage`, async () => {
    const r = await help(name);
    expect(r.status, r.stderr).toBe(0);
    expect(flags.filter((f) => !r.stdout.includes(f))).toEqual([]);
  });
});
