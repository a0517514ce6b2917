// `supabase functions deploy` as a user runs it, with the real CLI (2.117) against a loopback
// stand-in Management API, in a network namespace with only loopback when run as root (CI): the
// uploads must hold every local module, name deno.json as the import map, and resolve on their
// own, fetching npm packages from a registry rather than from a node_modules directory.
import { describe, expect, it } from 'vitest';
import { deployCheckIsolated, FUNCTIONS, pinProblems } from './deploy-check/index.ts';

describe('supabase functions deploy', () => {
  it('uploads functions that can start on the edge runtime', async () => {
    const report = await deployCheckIsolated();
    console.log(
      `[deploy-check] ${report.isolated ? 'in unshare -n (loopback only)' : 'without a namespace (not root)'}; ` +
        `CLI exit ${report.cliExit}; ${report.functions.map((f) => `${f.slug} ${f.uploaded.length} files`).join(', ')}`,
    );
    expect(report.problems, report.cliOutput).toEqual([]);
    expect(report.cliExit).toBe(0);
    expect(report.functions.map((f) => f.slug)).toEqual(FUNCTIONS);
    // One multipart upload per function, through the API (no Docker here).
    expect(report.requests.filter((r) => r.startsWith('POST') && r.includes('/functions/deploy'))).toHaveLength(FUNCTIONS.length);
    for (const f of report.functions) {
      expect(f.importMapPath).toBe('deno.json');
      expect(f.uploaded).toEqual(
        expect.arrayContaining(['deno.json', `supabase/functions/${f.slug}/index.ts`, 'contracts/api/routes.ts']),
      );
      // Nothing of the local tooling or the worker goes up.
      expect(f.uploaded.filter((p) => /^(worker|scripts|node_modules)\/|_local\//.test(p))).toEqual([]);
      // Every npm package was looked up in the (dead, loopback) registry: resolved by the runtime.
      expect(f.registryFetches).toEqual(['npm:hono@4.13.19', 'npm:jose@6.2.18', 'npm:postgres@3.4.9', 'npm:zod@4.6.7']);
      // config.toml: the functions verify tokens themselves (HS256 secret or JWKS), see the README.
      expect(f.verifyJwt).toBe(false);
    }
  }, 120_000);

  it('refuses an import map whose npm packages could float', async () => {
    const floating = JSON.stringify({ imports: { zod: 'npm:zod@^4.6.7', jose: 'npm:jose@6.2.18', x: './x.ts' } });
    expect(await pinProblems(floating)).toEqual([
      'deno.json: zod@^4.6.7 is not an exact version',
      'deno.json: zod@^4.6.7, but node_modules (what tests run) has 4.6.7',
      'deno.json: "x" → ./x.ts is not an npm: specifier with a version',
    ]);
  });
});
