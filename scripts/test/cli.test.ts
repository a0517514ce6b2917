// Every command explains itself: --help prints usage and options and exits 0, an unknown flag
// is an error naming it (exit 2) before anything starts, and login without a terminal says so.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lib/migrate.ts';

const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, [script, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });

describe.each([
  ['npm start', 'scripts/stack.ts', ['--fresh', '--dir <path>', '--ports auto', '--quiet', '--no-worker']],
  ['npm run demo', 'scripts/demo.ts', ['--json', '--flood', '--fresh', '--dir <path>']],
  ['npm run login', 'scripts/login.ts', ['-h, --help']],
])('%s', (command, script, options) => {
  it('--help prints the usage and every option, and exits 0', () => {
    const r = run(script, ['--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Usage: ${command}`);
    for (const o of options) expect(r.stdout).toContain(o);
  });

  it('an unknown flag is an error that names it', () => {
    const r = run(script, ['--bogus-flag']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${command}: unknown option '--bogus-flag'`);
    expect(r.stdout).toBe('');
  });
});

it('npm run login without a terminal says it needs one', () => {
  const r = run('scripts/login.ts', []);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/^npm run login needs a terminal/);
});
