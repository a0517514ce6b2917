// Writes contracts/openapi.json from the zod schemas and route table (contracts/api/).
//   node scripts/gen-openapi.ts          # regenerate
//   node scripts/gen-openapi.ts --check  # exit 1 if the committed file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument } from '../contracts/api/openapi.ts';
import { REPO_ROOT } from './lib/migrate.ts';

export const OPENAPI_FILE = join(REPO_ROOT, 'contracts/openapi.json');

export function renderOpenApi(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = renderOpenApi();
  if (process.argv.includes('--check')) {
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
