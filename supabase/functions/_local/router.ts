// Local stand-in for Supabase's functions gateway (no Docker here, so no `supabase functions serve`):
// one Deno process serving every function at http://127.0.0.1:<port>/functions/v1/<name>/...
// Start it with scripts/functions-server.ts; it prints FUNCTIONS_READY_LINE once listening.
// The '_' folder is not deployed by `supabase functions deploy`.
import accounts from '../accounts/index.ts';
import batches from '../batches/index.ts';
import campaigns from '../campaigns/index.ts';
import channels from '../channels/index.ts';
import templates from '../templates/index.ts';
import webhooks from '../webhooks/index.ts';
import { closeDb } from '../_shared/db.ts';
import { preflight } from '../_shared/cors.ts';
import { errorResponse } from '../_shared/errors.ts';
import { ApiError } from '../_shared/errors.ts';
import type { EdgeFunction } from '../_shared/app.ts';

// A Map, not an object literal: '/functions/v1/constructor' must be "no such function", not a
// method of Object.prototype called as a function.
const functions = new Map<string, EdgeFunction>(Object.entries({ accounts, batches, campaigns, channels, templates, webhooks }));

const port = Number(Deno.env.get('FUNCTIONS_PORT') ?? 54321);
// Loopback only: this router has no gateway in front of it.
const hostname = '127.0.0.1';

const server = Deno.serve({
  port,
  hostname,
  onListen: (addr) => console.log(`functions ready at http://${hostname}:${addr.port}/functions/v1`),
}, (req) => {
  const name = /^\/functions\/v1\/([^/]+)/.exec(new URL(req.url).pathname)?.[1];
  const fn = name ? functions.get(name) : undefined;
  if (fn) return fn.fetch(req);
  if (req.method === 'OPTIONS') return preflight();
  return errorResponse(new ApiError(404, 'not_found', `no function ${name ?? ''} (have ${[...functions.keys()].join(', ')})`));
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  Deno.addSignalListener(signal, async () => {
    await server.shutdown();
    await closeDb();
    Deno.exit(0);
  });
}
