// Writes contracts/openapi.json from the zod schemas and route table (contracts/api/).
//   node scripts/gen-openapi.ts          # regenerate
//   node scripts/gen-openapi.ts --check  # exit 1 if the committed file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildOpenApiDocument } from '../contracts/api/openapi.ts';
import { checkFlags } from './lib/cli.ts';
import { REPO_ROOT } from './lib/migrate.ts';

export const OPENAPI_FILE = join(REPO_ROOT, 'contracts/openapi.json');

const USAGE = `Usage: npm run gen:openapi [-- --check]

Writes contracts/openapi.json (OpenAPI 3.1) from the zod schemas and the route table in contracts/api/.
  --check     write nothing; exit 1 if the committed file is out of date
  -h, --help  this text`;

export function renderOpenApi(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}

const parse = (args: string[]) => parseArgs({ args, options: { check: { type: 'boolean' } }, strict: true });

if (
  process.argv[1] === fileURLToPath(import.meta.url) && checkFlags('npm run gen:openapi', USAGE, process.argv.slice(2), parse)
) {
  const text = renderOpenApi();
  if (parse(process.argv.slice(2)).values.check) {
    let current = '';
    try {
      current = readFileSync(OPENAPI_FILE, 'utf8');
    } catch { /* missing counts as stale */ }
    if (current !== text) {
      console.error('contracts/openapi.json is out of date: run node scripts/gen-openapi.ts');
      process.exit(1);
    }
    console.log('contracts/openapi.json is up to date');
  } else {
    writeFileSync(OPENAPI_FILE, text);
    console.log(`wrote ${OPENAPI_FILE}`);
  }
}
