// The committed OpenAPI document must be what the zod schemas generate today
// (regenerate with `node scripts/gen-openapi.ts`), and must describe every route.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { routes } from '../../contracts/api/routes.ts';
import { OPENAPI_FILE, renderOpenApi } from '../../scripts/gen-openapi.ts';

describe('OpenAPI document', () => {
  it('is up to date with the zod schemas (run node scripts/gen-openapi.ts)', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(renderOpenApi());
  });

  it('documents every route with its success and error answers', () => {
    const doc = JSON.parse(renderOpenApi());
    expect(doc.openapi).toBe('3.1.0');
    for (const [operationId, spec] of Object.entries(routes)) {
      const path = `/${spec.fn}${spec.path === '/' ? '' : spec.path}`;
      const op = doc.paths[path]?.[spec.method.toLowerCase()];
      expect(op?.operationId, `${spec.method} ${path}`).toBe(operationId);
      expect(op.responses[spec.status]).toBeDefined();
      expect(op.responses[401].content['application/json'].schema.$ref).toBe('#/components/schemas/ErrorBody');
    }
    // a request body is described field by field, with its limits
    const create = doc.paths['/channels/import'].post.requestBody.content['application/json'].schema;
    expect(create.properties.peers.maxItems).toBe(1000);
    expect(create.additionalProperties).toBe(false);
  });
});
