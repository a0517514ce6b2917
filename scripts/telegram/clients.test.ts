// The client-library measurement (clients-bench.ts) with small numbers, for both libraries:
// structural properties only (a post made while its socket dies is stored exactly once, the client
// comes back by itself after an outage, nothing is left unhandled), never timings.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NODE } from '../bench/worker.ts';
import { REPO_ROOT } from '../lib/migrate.ts';
import type { LibResult } from './clients-bench.ts';

const run = promisify(execFile);

/** The CLI's exit code and output, whether it succeeds or not. */
const runCli = (args: string[], timeout: number) =>
  run(NODE, [join(REPO_ROOT, 'scripts/telegram/clients-bench.ts'), ...args], { cwd: REPO_ROOT, timeout }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number | null; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('clients-bench: GramJS and teleproto against the stand-in', () => {
  it('both libraries resend a post cut off by a dropped socket or an outage with its random_id: stored once', async () => {
    const r = await runCli(['--clients', '5', '--outage', '2', '--no-half-open', '--idle-seconds', '1', '--json'], 170_000);
    expect(r.code, r.stderr).toBe(0);
    const { results } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { results: LibResult[] };
    expect(results.map((x) => x.lib)).toEqual(['gramjs', 'teleproto']);
    for (const x of results) {
      expect(x.drop.inFlightPost).toMatchObject({ ok: true, stored: 1 });
      expect(x.drop.callAnsweredAfterMs).not.toBeNull();
      // Came back by itself: the held post settled with no call made after the DC was up again.
      expect(x.outage.inFlightPost).toMatchObject({ settled: true, ok: true, stored: 1 });
      expect(x.outage.connectAttemptsDuringOutage).toBeGreaterThan(0);
      expect(x.outage.callAnsweredAfterUpMs).not.toBeNull();
      expect(x.problems).toEqual([]);
      expect(x.idle.map((p) => [p.clients, p.problems])).toEqual([[5, []]]);
      expect(x.idle[0]!.rssMb).toBeGreaterThan(x.idle[0]!.rssBaseMb);
    }
  }, 180_000);

  it('prints its usage with --help and names an unknown flag', async () => {
    const help = await runCli(['--help'], 20_000);
    for (const flag of ['--lib', '--clients', '--outage', '--no-half-open', '--json']) expect(help.stdout).toContain(flag);
    const bad = await runCli(['--lib', 'mtcute'], 20_000);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--lib');
  });
});
