// `npm test [-- <vitest filter...>]`: type checks, lint and format, one Postgres, vitest, deno test; the last
// line printed is always `N passed, M failed`. With a filter only the vitest step runs tests.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { wantsHelp } from '../lib/cli.ts';
import { REPO_ROOT } from '../lib/migrate.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

const BIN = join(REPO_ROOT, 'node_modules/.bin');
const RESULTS = join(REPO_ROOT, '.test-results');
const filter = process.argv.slice(2);
let passed = 0;
let failed = 0;
const t0 = Date.now();

const USAGE = `Usage: npm test [-- <vitest filter or option>...]

Type-checks (tsc, deno check), lints and format-checks (deno lint, deno fmt --check), starts one
embedded Postgres, migrates a template database with the Supabase CLI, runs vitest against clones
of it, then deno test. The last line is \`N passed, M failed\`.
  <filter>...  only the vitest files matching (e.g. worker/ or supabase/tests/realtime.test.ts);
               deno test is then skipped. Other vitest options (e.g. -t <name>) pass through.
  -h, --help   this text`;

function log(msg: string): void {
  console.log(`\n[test] ${msg} (+${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

/** Runs a command with inherited stdio (tee'd into the returned text when capture is set). */
function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; capture?: boolean } = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('error', (err) => {
      out += String(err);
      resolve({ code: 127, out });
    });
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

// Deno decorates its output with ANSI colours even when piped.
// deno-lint-ignore no-control-regex -- ESC is what ANSI colour codes start with
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function functionEntries(): string[] {
  const dir = join(REPO_ROOT, 'supabase/functions');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('_') && d.name !== 'tests')
    .map((d) => `supabase/functions/${d.name}/index.ts`)
    .filter((f) => existsSync(join(REPO_ROOT, f)));
}

function denoTestFiles(): boolean {
  const dir = join(REPO_ROOT, 'supabase/functions/tests');
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { recursive: true }).some((f) => /(^|[._/])test\.(ts|tsx|js|mjs)$/.test(String(f)));
}

async function main(): Promise<void> {
  log(`node ${process.version}, ${BIN}`);
  rmSync(RESULTS, { recursive: true, force: true });
  mkdirSync(RESULTS, { recursive: true });

  log('tsc --noEmit');
  const tsc = await run(join(BIN, 'tsc'), ['--noEmit', '-p', 'tsconfig.json']);
  if (tsc.code !== 0) {
    failed += 1;
    console.error('[test] FAILED: tsc');
  }

  const entries = functionEntries();
  if (entries.length) {
    log(`deno check ${entries.length} function(s)`);
    const check = await run(join(BIN, 'deno'), ['check', ...entries]);
    if (check.code !== 0) {
      failed += 1;
      console.error('[test] FAILED: deno check');
    }
  }

  // Style is checked by tools, not by memory: settings in deno.json (fmt, lint).
  for (const [what, args] of [['deno lint', ['lint']], ['deno fmt --check', ['fmt', '--check']]] as const) {
    log(what);
    const r = await run(join(BIN, 'deno'), [...args]);
    if (r.code !== 0) {
      failed += 1;
      console.error(`[test] FAILED: ${what} (\`node_modules/.bin/deno fmt\` formats)`);
    }
  }

  log('starting Postgres and migrating the template');
  let cluster: TestCluster | undefined;
  try {
    cluster = await startTestCluster({ log: (m) => log(m) });
  } catch (err) {
    console.error(err);
    failed += 1;
    return;
  }
  try {
    log(`vitest run ${filter.join(' ')}`);
    const jsonFile = join(RESULTS, 'vitest.json');
    const vt = await run(join(BIN, 'vitest'), [
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${jsonFile}`,
      ...filter,
    ], { env: cluster.env });
    if (existsSync(jsonFile)) {
      const r = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
        numPassedTests: number;
        numFailedTests: number;
        numFailedTestSuites: number;
        numTotalTests: number;
      };
      passed += r.numPassedTests;
      failed += r.numFailedTests;
      // A file that fails to load (or a hook that throws) fails no test but its suite; a failing
      // test also fails its file and describe blocks, which must not count twice.
      if (r.numFailedTests === 0 && (r.numFailedTestSuites > 0 || vt.code !== 0)) failed += Math.max(1, r.numFailedTestSuites);
    } else if (vt.code !== 0) {
      failed += 1;
    }

    if (!filter.length && denoTestFiles()) {
      log('deno test -A supabase/functions/tests/');
      // Deno tests get their own clone; its URLs follow the same convention as TestDatabase.
      let db: TestDatabase | undefined;
      try {
        Object.assign(process.env, cluster.env);
        db = await createTestDatabase({ prefix: 'tg_deno' });
        const dt = await run(join(BIN, 'deno'), ['test', '-A', 'supabase/functions/tests/'], {
          capture: true,
          env: { ...cluster.env, TEST_DATABASE_URL: db.url, TEST_DATABASE_ADMIN_URL: db.adminUrl },
        });
        const m = /(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(stripAnsi(dt.out));
        if (m) {
          passed += Number(m[2]);
          failed += Number(m[3]);
          if (dt.code !== 0 && Number(m[3]) === 0) failed += 1;
        } else if (dt.code !== 0) {
          failed += 1;
        }
      } finally {
        await db?.drop().catch(() => {});
      }
    }
  } finally {
    log('stopping Postgres');
    await cluster.stop().catch((err: unknown) => {
      console.error(err);
    });
  }
}

if (wantsHelp(filter)) {
  console.log(USAGE);
  process.exit(0);
}
try {
  await main();
} catch (err) {
  console.error(err);
  failed += 1;
}
log('done');
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
