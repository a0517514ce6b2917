// Baseline + migrations, the way a hosted project gets them: baseline as the superuser (local
// only), then the real Supabase CLI pushes supabase/migrations as the non-superuser `postgres`.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUPABASE_BIN = `${REPO_ROOT}node_modules/.bin/supabase`;
const BASELINE = fileURLToPath(new URL('./baseline.sql', import.meta.url));

export function withDatabase(url: string, dbName: string): string {
  const u = new URL(url);
  u.pathname = `/${dbName}`;
  return u.toString();
}

/** Same server and database as `url`, logged in as role `postgres` (password 'postgres'). */
export function asPostgresRole(url: string): string {
  const u = new URL(url);
  u.username = 'postgres';
  u.password = 'postgres';
  return u.toString();
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates `dbName` owned by `postgres` if it is missing (roles first: the owner must exist),
 * then applies scripts/lib/baseline.sql to it. `adminUrl` is a superuser URL to any database.
 */
export async function applyBaseline(adminUrl: string, dbName: string): Promise<void> {
  const sql = readFileSync(BASELINE, 'utf8');
  const admin = new pg.Client({ connectionString: withDatabase(adminUrl, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = 'postgres') then create role postgres; end if;
    end $$`);
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [dbName]);
    // Owned by postgres, so migrations may create schemas (pgboss), like on hosted Supabase.
    if (!rowCount) await admin.query(`create database ${quoteIdent(dbName)} owner postgres`);
  } finally {
    await admin.end();
  }
  const db = new pg.Client({ connectionString: withDatabase(adminUrl, dbName) });
  await db.connect();
  try {
    await db.query(sql);
  } finally {
    await db.end();
  }
}

export interface CliResult {
  stdout: string;
  stderr: string;
}

/** Runs the pinned Supabase CLI; on failure the error message carries its full output. */
export async function supabaseCli(args: string[]): Promise<CliResult> {
  return await new Promise((resolve, reject) => {
    execFile(SUPABASE_BIN, [...args, '--workdir', REPO_ROOT], {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 1024 * 1024,
      // No telemetry/update checks that would wait on the network.
      env: { ...process.env, DO_NOT_TRACK: '1', SUPABASE_TELEMETRY_DISABLED: '1' },
    }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new Error(
            `supabase ${args.filter((a) => !a.includes('://')).join(' ')} failed (${
              err.code ?? err.message
            }):\n${stderr}${stdout}`,
          ),
        );
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/** The CLI needs sslmode=disable for a local server without TLS. */
export function cliDbUrl(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('sslmode')) u.searchParams.set('sslmode', 'disable');
  return u.toString();
}

/** `supabase db push` as role postgres; returns the CLI's combined output. */
export async function pushMigrations(postgresRoleUrl: string, opts: { dryRun?: boolean } = {}): Promise<string> {
  const args = ['db', 'push', '--db-url', cliDbUrl(postgresRoleUrl), '--yes'];
  if (opts.dryRun) args.push('--dry-run');
  const { stdout, stderr } = await supabaseCli(args);
  return `${stderr}${stdout}`;
}

export interface MigrationRow {
  local: string | null;
  remote: string | null;
}

/** `supabase migration list`, parsed: one row per version known locally or remotely. */
export async function migrationList(url: string): Promise<{ rows: MigrationRow[]; output: string }> {
  const { stdout, stderr } = await supabaseCli(['migration', 'list', '--db-url', cliDbUrl(url)]);
  const output = `${stderr}${stdout}`;
  const rows: MigrationRow[] = [];
  for (const line of output.split('\n')) {
    // Table rows look like:  `20261128000000` | `20261128000000` | `2026-11-28 00:00:00`
    const cells = line.split('|').map((c) => c.trim().replaceAll('`', ''));
    if (cells.length < 3 || !/^\d*$/.test(cells[0]!) || !/^\d*$/.test(cells[1]!)) continue;
    if (!cells[0] && !cells[1]) continue;
    rows.push({ local: cells[0] || null, remote: cells[1] || null });
  }
  return { rows, output };
}
