// The deploy guard: `supabase functions deploy` with the real CLI against a loopback stand-in
// Management API, then checks that what was uploaded can start on its own:
//  - every local module of the function's graph (`deno info --json` in the repo) is uploaded;
//  - import_map_path is the intended file (deno.json) and it is in the upload;
//  - Deno resolving the uploaded files alone (no package.json, no node_modules, an empty
//    DENO_DIR) finds every local module and fetches npm packages from a registry, not from a
//    node_modules directory. The registry is a dead loopback port: nothing leaves the machine.
//
//   node scripts/deploy-check/index.ts [--json]        # in a loopback-only namespace when root
//
// runDeployCheck() does the work in this process; deployCheckIsolated() runs it in `unshare -n`
// with only `lo` up when running as root (CI), otherwise with the same loopback-only settings.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../lib/migrate.ts';
import { startManagementApi, type Upload } from './management-api.ts';

export const FUNCTIONS = ['channels', 'batches', 'templates', 'campaigns', 'accounts', 'webhooks'];
const BIN = join(REPO_ROOT, 'node_modules/.bin');
const PROJECT_REF = 'abcdefghijklmnopqrst'; // 20 lowercase letters, like a real ref
const INTENDED_IMPORT_MAP = 'deno.json';

export interface FunctionReport {
  slug: string;
  importMapPath: unknown;
  verifyJwt: unknown;
  uploaded: string[];
  /** Local modules of the repo's graph that the upload lacks. */
  notUploaded: string[];
  /** Local modules Deno could not find among the uploaded files. */
  missingLocal: string[];
  /** Resolution errors that point at a node_modules directory (the runtime has none). */
  nodeModules: string[];
  /** npm packages Deno tried to fetch from the (dead) registry: the expected offline outcome. */
  registryFetches: string[];
  /** Any other resolution error. */
  otherErrors: string[];
}

export interface DeployReport {
  cliExit: number | null;
  cliOutput: string;
  requests: string[];
  functions: FunctionReport[];
  /** One line per violated rule; empty when the deploy is sound. */
  problems: string[];
}

const execFileAsync = promisify(execFile);

/** Runs a command to completion: its exit code (127 when it could not start) and its output. */
async function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ code: number | null; out: string; err: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { ...opts, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof x.code === 'number' ? x.code : 127, out: x.stdout ?? '', err: x.stderr || x.message };
  }
}

/** A loopback port nobody listens on: Deno's npm registry, so any fetch fails at once, locally. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

interface InfoModule {
  specifier: string;
  error?: string;
  local?: string;
  kind?: string;
}
interface Info {
  modules: InfoModule[];
  redirects?: Record<string, string>;
}

async function denoInfo(cwd: string, config: string, entry: string, env: NodeJS.ProcessEnv): Promise<Info> {
  const r = await run(join(BIN, 'deno'), ['info', '--json', '--config', config, entry], { cwd, env });
  if (r.code !== 0) throw new Error(`deno info ${entry} failed (${r.code}): ${r.err}`);
  return JSON.parse(r.out) as Info;
}

/** Every error of a `deno info --json` graph: module errors and unresolvable dependencies. */
function graphErrors(info: Info): Array<{ specifier: string; error: string }> {
  const out: Array<{ specifier: string; error: string }> = [];
  for (const m of info.modules) {
    if (m.error) out.push({ specifier: m.specifier, error: m.error });
    for (
      const d of (m as { dependencies?: Array<{ specifier: string; code?: { error?: string }; type?: { error?: string } }> })
        .dependencies ?? []
    ) {
      for (const e of [d.code?.error, d.type?.error]) if (e) out.push({ specifier: d.specifier, error: e });
    }
  }
  return out;
}

async function checkUpload(u: Upload, localModules: string[], env: NodeJS.ProcessEnv, dir: string): Promise<FunctionReport> {
  const root = join(dir, u.slug);
  for (const [name, text] of u.files) {
    const file = join(root, name);
    if (!file.startsWith(`${root}/`)) throw new Error(`upload of ${u.slug} names a file outside its root: ${name}`);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  const importMap = typeof u.metadata.import_map_path === 'string' ? u.metadata.import_map_path : INTENDED_IMPORT_MAP;
  const entry = String(u.metadata.entrypoint_path ?? `supabase/functions/${u.slug}/index.ts`);
  const info = await denoInfo(root, importMap, entry, env);
  const errors = graphErrors(info);
  const rootUrl = `file://${root}/`;
  const isLocal = (s: string) => s.startsWith('file://');
  const report: FunctionReport = {
    slug: u.slug,
    importMapPath: u.metadata.import_map_path,
    verifyJwt: u.metadata.verify_jwt,
    uploaded: [...u.files.keys()].sort(),
    notUploaded: localModules.filter((m) => !u.files.has(m)),
    missingLocal: [
      ...new Set(
        errors.filter((e) => isLocal(e.specifier) || /^\.\.?\//.test(e.specifier)).map((e) => e.specifier.replace(rootUrl, '')),
      ),
    ],
    nodeModules: [
      ...new Set(errors.filter((e) => /node_modules/.test(e.error)).map((e) => `${e.specifier}: ${e.error.split(/\.\s/)[0]}`)),
    ],
    registryFetches: [],
    otherErrors: [],
  };
  for (const e of errors) {
    if (isLocal(e.specifier) || /^\.\.?\//.test(e.specifier) || /node_modules/.test(e.error)) continue;
    if (/^npm:/.test(e.specifier) && /^Failed loading http:\/\/127\.0\.0\.1:\d+\//.test(e.error)) {
      report.registryFetches.push(e.specifier);
    } else report.otherErrors.push(`${e.specifier}: ${e.error}`);
  }
  report.registryFetches = [...new Set(report.registryFetches)].sort();
  report.otherErrors = [...new Set(report.otherErrors)];
  return report;
}

function problemsOf(r: FunctionReport, repoImportMap: string, uploadedImportMap: string | undefined): string[] {
  const p: string[] = [];
  if (r.importMapPath !== INTENDED_IMPORT_MAP) {
    p.push(`${r.slug}: import_map_path is ${JSON.stringify(r.importMapPath)}, not "${INTENDED_IMPORT_MAP}"`);
  }
  if (uploadedImportMap === undefined) p.push(`${r.slug}: ${INTENDED_IMPORT_MAP} was not uploaded`);
  else if (uploadedImportMap !== repoImportMap) {
    p.push(`${r.slug}: the uploaded ${INTENDED_IMPORT_MAP} differs from the repository's`);
  }
  for (const m of r.notUploaded) p.push(`${r.slug}: local module not uploaded: ${m}`);
  for (const m of r.missingLocal) p.push(`${r.slug}: uploaded files do not resolve local module ${m}`);
  for (const m of r.nodeModules) p.push(`${r.slug}: relies on node_modules: ${m}`);
  for (const m of r.otherErrors) p.push(`${r.slug}: ${m}`);
  return p;
}

/**
 * The CLI uploads no deno.lock, so the import map alone decides what the runtime fetches: each npm
 * import must name an exact version, the one installed (and tested) here, of a package without
 * dependencies of its own (nothing below it can float).
 */
export async function pinProblems(importMapText: string): Promise<string[]> {
  const imports = (JSON.parse(importMapText) as { imports?: Record<string, string> }).imports ?? {};
  const out: string[] = [];
  for (const [key, target] of Object.entries(imports)) {
    const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/.exec(target);
    if (!m) {
      out.push(`${INTENDED_IMPORT_MAP}: "${key}" → ${target} is not an npm: specifier with a version`);
      continue;
    }
    const [, name, version] = m as unknown as [string, string, string];
    if (!/^\d+\.\d+\.\d+$/.test(version)) out.push(`${INTENDED_IMPORT_MAP}: ${name}@${version} is not an exact version`);
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
      dependencies?: object;
    };
    if (pkg.version !== version) {
      out.push(`${INTENDED_IMPORT_MAP}: ${name}@${version}, but node_modules (what tests run) has ${pkg.version}`);
    }
    if (Object.keys(pkg.dependencies ?? {}).length) {
      out.push(`${INTENDED_IMPORT_MAP}: ${name} has dependencies that no lock pins on deploy`);
    }
  }
  return out;
}

/** Runs the real CLI's deploy against the stand-in and checks every upload. */
export async function runDeployCheck(functions: string[] = FUNCTIONS): Promise<DeployReport> {
  const tmp = await mkdtemp(join(tmpdir(), 'tg-deploy-check-'));
  const api = await startManagementApi();
  try {
    const registry = `http://127.0.0.1:${await deadPort()}/`;
    await writeFile(
      join(tmp, 'profile.yaml'),
      [
        'name: loopback-stand-in',
        `api_url: ${api.url}`,
        `dashboard_url: ${api.url}/dashboard`,
        'project_host: supabase.invalid',
        '',
      ].join('\n'),
    );
    // No credentials or settings of the developer's: a fresh HOME, a dummy token, no telemetry.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: tmp,
      NO_COLOR: '1',
      SUPABASE_PROFILE: join(tmp, 'profile.yaml'),
      SUPABASE_ACCESS_TOKEN: `sbp_${'0'.repeat(40)}`,
      SUPABASE_TELEMETRY_DISABLED: '1',
      DO_NOT_TRACK: '1',
      SUPABASE_NO_UPDATE_NOTIFIER: '1',
      DENO_DIR: join(tmp, 'deno-dir'),
      NPM_CONFIG_REGISTRY: registry,
      DENO_NO_UPDATE_CHECK: '1',
    };
    const cli = await run(
      join(BIN, 'supabase'),
      ['functions', 'deploy', ...functions, '--project-ref', PROJECT_REF, '--use-api'],
      { cwd: REPO_ROOT, env },
    );
    const repoImportMap = await readFile(join(REPO_ROOT, INTENDED_IMPORT_MAP), 'utf8');
    const reports: FunctionReport[] = [];
    const problems: string[] = await pinProblems(repoImportMap);
    if (cli.code !== 0) problems.push(`supabase functions deploy exited with ${cli.code}`);
    for (const slug of functions) {
      const u = api.uploads.find((x) => x.slug === slug);
      if (!u) {
        problems.push(`${slug}: no upload`);
        continue;
      }
      // The repo's own graph, resolved with node_modules as the local router does.
      const entry = `supabase/functions/${slug}/index.ts`;
      const local = await denoInfo(REPO_ROOT, INTENDED_IMPORT_MAP, entry, env);
      const localModules = local.modules.filter((m) =>
        m.specifier.startsWith(`file://${REPO_ROOT}/`) && !m.specifier.includes('/node_modules/')
      )
        .map((m) => relative(REPO_ROOT, fileURLToPath(m.specifier)));
      const r = await checkUpload(u, localModules, env, join(tmp, 'uploads'));
      reports.push(r);
      problems.push(...problemsOf(r, repoImportMap, u.files.get(INTENDED_IMPORT_MAP)));
    }
    return { cliExit: cli.code, cliOutput: `${cli.out}${cli.err}`, requests: api.requests, functions: reports, problems };
  } finally {
    await api.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The check as CI runs it: as root, in a new network namespace with only loopback up (nothing can
 * reach the Internet even by mistake); otherwise in this process with the same loopback settings.
 */
export async function deployCheckIsolated(): Promise<DeployReport & { isolated: boolean }> {
  if (process.getuid?.() !== 0) return { ...(await runDeployCheck()), isolated: false };
  const self = fileURLToPath(import.meta.url);
  const r = await run('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec "${join(BIN, 'node')}" "${self}" --json`], {
    cwd: REPO_ROOT,
    env: process.env,
  });
  const last = r.out.trim().split('\n').at(-1) ?? '';
  if (!last.startsWith('{')) throw new Error(`deploy check in unshare -n failed (${r.code}):\n${r.out}\n${r.err}`);
  return { ...(JSON.parse(last) as DeployReport), isolated: true };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = await runDeployCheck();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(report));
  } else {
    for (const f of report.functions) {
      console.log(
        `${f.slug}: ${f.uploaded.length} files, import_map_path ${JSON.stringify(f.importMapPath)}, npm from registry: ${
          f.registryFetches.join(' ') || '-'
        }`,
      );
    }
    console.log(report.problems.length ? `PROBLEMS:\n${report.problems.join('\n')}` : 'deploy check passed');
  }
  process.exitCode = report.problems.length ? 1 : 0;
}
