// Serves all Edge Functions locally at http://127.0.0.1:<port>/functions/v1/<name>, as Supabase's
// gateway would, with Deno (supabase/functions/_local/router.ts).
//
//   node scripts/functions-server.ts [--port 54321]     # env: SUPABASE_DB_URL, SUPABASE_JWT_SECRET, ...
//
// From other scripts and tests:
//   const fx = await startFunctionsServer({ port: 0, env: { SUPABASE_DB_URL, SUPABASE_JWT_SECRET } });
//   fetch(`${fx.functionsUrl}/campaigns`) ...; await fx.stop();
// It resolves once the router printed its ready line, and rejects if Deno exits first.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkFlags } from './lib/cli.ts';
import { REPO_ROOT } from './lib/migrate.ts';

export const DEFAULT_FUNCTIONS_PORT = 54321;
const READY = /functions ready at (http:\/\/127\.0\.0\.1:(\d+)\/functions\/v1)/;

export interface FunctionsServerOptions {
  /** 0 picks a free port (tests). Default 54321, Supabase's. */
  port?: number;
  /** Added to this process's environment: DATABASE_URL or SUPABASE_DB_URL, SUPABASE_JWT_SECRET, SUPABASE_JWKS, DB_POOL_SIZE... */
  env?: Record<string, string | undefined>;
  /** Receives the router's log lines (default: this process's stderr). */
  log?: (line: string) => void;
  timeoutMs?: number;
}

export interface FunctionsServer {
  /** e.g. http://127.0.0.1:54321/functions/v1 */
  functionsUrl: string;
  /** e.g. http://127.0.0.1:54321 (what supabase-js createClient takes) */
  baseUrl: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function startFunctionsServer(opts: FunctionsServerOptions = {}): Promise<FunctionsServer> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`[functions] ${line}\n`));
  // This process's DATABASE_URL (if any) is the stack's superuser URL, not the functions' database:
  // the router's DATABASE_URL comes from opts.env only. Locally there is no pooler in front of
  // Postgres, so SUPABASE_DB_URL alone stands for both.
  const { DATABASE_URL: _superuserUrl, ...inherited } = process.env;
  const dbEnv = opts.env?.DATABASE_URL ?? opts.env?.SUPABASE_DB_URL ?? inherited.SUPABASE_DB_URL;
  const child = spawn(join(REPO_ROOT, 'node_modules/.bin/deno'), [
    'run',
    '--quiet',
    '--no-prompt',
    '--config',
    join(REPO_ROOT, 'deno.json'),
    '--allow-net',
    '--allow-env',
    '--allow-read',
    '--allow-sys',
    join(REPO_ROOT, 'supabase/functions/_local/router.ts'),
  ], {
    cwd: REPO_ROOT,
    env: {
      ...inherited,
      NO_COLOR: '1',
      ...opts.env,
      ...(dbEnv && { DATABASE_URL: dbEnv }),
      FUNCTIONS_PORT: String(opts.port ?? DEFAULT_FUNCTIONS_PORT),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };

  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`functions server not ready after ${opts.timeoutMs ?? 30_000} ms`));
    }, opts.timeoutMs ?? 30_000);
    const lines = (stream: NodeJS.ReadableStream, onLine: (l: string) => void) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    };
    lines(child.stdout!, (line) => {
      const m = READY.exec(line);
      if (m && !ready) {
        ready = true;
        clearTimeout(timer);
        const port = Number(m[2]);
        resolve({ functionsUrl: m[1]!, baseUrl: `http://127.0.0.1:${port}`, port, child, stop });
      } else {
        log(line);
      }
    });
    lines(child.stderr!, log);
    child.once('exit', (code, signal) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`functions server exited before it was ready (code ${code}, signal ${signal})`));
      }
    });
  });
}

const USAGE = `Usage: npm run functions [-- --port <port>]

Serves every Edge Function at http://127.0.0.1:<port>/functions/v1/<name> (Deno, the local router).
  --port <port>  default 54321 (or FUNCTIONS_PORT); 0 picks a free port
  -h, --help     this text
Environment: SUPABASE_DB_URL (the database, as role postgres or the functions' role), and
SUPABASE_JWT_SECRET or SUPABASE_JWKS to verify user tokens. \`npm start\` sets both for the local stack.`;

const parseServerArgs = (args: string[]) => parseArgs({ args, options: { port: { type: 'string' } }, strict: true });

async function serve(port: number): Promise<void> {
  // Served without them, every request would fail: say so up front rather than with 401s/500s.
  const missing = [
    ...(process.env.SUPABASE_DB_URL
      ? []
      : ["SUPABASE_DB_URL (role postgres; DATABASE_URL is ignored here, it is the stack's superuser URL)"]),
    ...(process.env.SUPABASE_JWT_SECRET || process.env.JWT_SECRET || process.env.SUPABASE_JWKS || process.env.SUPABASE_JWKS_URL ||
        process.env.SUPABASE_URL
      ? []
      : ['SUPABASE_JWT_SECRET or SUPABASE_JWKS (to verify user tokens)']),
  ];
  if (missing.length) console.error(`warning: not set: ${missing.join(', ')}. \`npm start\` sets them for the local stack.`);
  const server = await startFunctionsServer({ port, log: (l) => console.error(l) });
  console.log(`functions ready at ${server.functionsUrl}`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void server.stop().then(() => process.exit(0));
    });
  }
  server.child.once('exit', (code) => process.exit(code ?? 1));
}

if (
  process.argv[1] === fileURLToPath(import.meta.url) &&
  checkFlags('npm run functions', USAGE, process.argv.slice(2), parseServerArgs)
) {
  const { port } = parseServerArgs(process.argv.slice(2)).values;
  await serve(Number(port ?? process.env.FUNCTIONS_PORT ?? DEFAULT_FUNCTIONS_PORT));
}
