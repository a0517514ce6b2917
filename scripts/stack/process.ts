// Child processes of the local stack (functions router, worker): own process group so a
// service's children (e.g. Deno under the router) stop with it, logs to a file (and optionally
// echoed with a prefix), readiness by polling an HTTP URL, and a stop that escalates to SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/migrate.ts';

/** The pinned Node 24 (pg-boss 12 needs ≥ 22.12), whatever Node runs us (e.g. a bare vitest). */
export const NODE_BIN = existsSync(join(REPO_ROOT, 'node_modules/.bin/node'))
  ? join(REPO_ROOT, 'node_modules/.bin/node')
  : process.execPath;

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logFile: string;
  /** Prefix and echo the service's output to our stdout/stderr. */
  echo?: boolean;
  /**
   * An IPC channel to the child: it closes when we die, even by SIGKILL, so a child that
   * listens for 'disconnect' (the worker does) stops instead of running on unseen.
   */
  ipc?: boolean;
}

export interface Service {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Last lines of output, for error messages. */
  tail(): string;
  stop(timeoutMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
// Last resort on any exit path (uncaught error, process.exit): never leave services behind.
process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});

/** Also kill this (non-detached) child on exit, e.g. the Deno router of functions-server.ts. */
export function trackChild(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  live.add(child);
  child.once('exit', () => live.delete(child));
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  }
}

export interface LogSink {
  /** Takes a chunk of output (several lines or part of one). */
  write(chunk: string | Buffer, stream?: 'stdout' | 'stderr'): void;
  tail(): string;
  end(): void;
}

/** A service's output: appended to its log file, kept (last 40 lines) for errors, optionally echoed. */
export function logSink(name: string, file: string, echo: boolean): LogSink {
  const log = createWriteStream(file, { flags: 'a' });
  const lines: string[] = [];
  return {
    write(chunk, stream = 'stdout') {
      log.write(chunk);
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        lines.push(line);
        if (lines.length > 40) lines.shift();
        if (echo) (stream === 'stdout' ? process.stdout : process.stderr).write(`[${name}] ${line}\n`);
      }
    },
    tail: () => lines.join('\n'),
    end: () => log.end(),
  };
}

export function startService(spec: ServiceSpec): Service {
  const sink = logSink(spec.name, spec.logFile, !!spec.echo);
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: spec.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: stop() signals the service and everything it started
  });
  child.channel?.unref(); // the channel alone must not keep us running
  live.add(child);
  child.stdout!.on('data', (d: Buffer) => sink.write(d, 'stdout'));
  child.stderr!.on('data', (d: Buffer) => sink.write(d, 'stderr'));
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (err) => {
      sink.write(`${String(err)}\n`, 'stderr');
    });
    child.on('close', (code, signal) => {
      live.delete(child);
      sink.end();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    name: spec.name,
    child,
    exited,
    tail: sink.tail,
    async stop(timeoutMs = 10_000) {
      if (!live.has(child)) return;
      killGroup(child, 'SIGTERM'); // graceful: the worker finishes in-flight sends
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers (any HTTP status) or the service dies or time runs out. */
export async function waitForHttp(url: string, service: Service | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let died: number | string | undefined;
  void service?.exited.then((c) => {
    died = c;
  });
  for (;;) {
    if (died !== undefined) {
      throw new Error(`${service!.name} exited (${died}) before it was ready:\n${service!.tail()}`);
    }
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      throw new Error(`${service?.name ?? url} not ready after ${timeoutMs} ms${service ? `:\n${service.tail()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
