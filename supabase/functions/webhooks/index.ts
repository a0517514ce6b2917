// Function `webhooks`: endpoints that receive signed events, and their delivery log. The URL
// rules are the database's (every writer); this function also resolves the host and refuses a
// name that points into a private network. The worker checks again before every attempt.
import type { Webhook, WebhookAttempt } from '../../../contracts/api/webhooks.ts';
import { defineFunction, serveIfMain } from '../_shared/app.ts';
import { deleteOne, findOne, iso, isoNN, type Listable, listPage, type OwnedResource, updateOne } from '../_shared/crud.ts';
import type { Row, Tx } from '../_shared/db.ts';
import { ApiError } from '../_shared/errors.ts';

export const webhookResource: OwnedResource<Webhook> = {
  table: 'webhook_endpoints',
  noun: 'webhook',
  select: 't.id, t.url, t.events, t.description, t.enabled, t.secret_prefix, t.created_at, t.updated_at',
  columns: { url: 'url', events: 'events', description: 'description', enabled: 'enabled' },
  toDto: (r: Row) => ({
    id: r.id,
    url: r.url,
    events: r.events,
    description: r.description,
    enabled: r.enabled,
    secretPrefix: r.secret_prefix,
    createdAt: isoNN(new Date(r.created_at)),
    updatedAt: isoNN(new Date(r.updated_at)),
  }),
};

const attemptLog: Listable<WebhookAttempt> = {
  table: 'webhook_attempts',
  select: `t.id, t.delivery_id, t.event_id, t.event_type, t.attempt, t.status_code, t.error,
    d.state = 'delivered' as delivered, t.duration_ms, t.started_at, t.finished_at`,
  from: 'public.webhook_attempts t join public.webhook_deliveries d on d.id = t.delivery_id',
  toDto: (r) => ({
    id: r.id,
    deliveryId: r.delivery_id,
    eventId: r.event_id,
    eventType: r.event_type,
    attempt: r.attempt,
    statusCode: r.status_code,
    error: r.error,
    delivered: r.delivered,
    durationMs: r.duration_ms,
    startedAt: isoNN(r.started_at),
    finishedAt: iso(r.finished_at),
  }),
};

const DNS_TIMEOUT_MS = 3_000;
const refused = (message: string) =>
  new ApiError(422, 'validation_failed', `url ${message}`, { issues: [{ path: ['url'], message }] });

async function resolve(host: string): Promise<string[]> {
  const signal = AbortSignal.timeout(DNS_TIMEOUT_MS);
  const answers = await Promise.allSettled((['A', 'AAAA'] as const).map((t) => Deno.resolveDns(host, t, { signal })));
  return answers.flatMap((a) => (a.status === 'fulfilled' ? a.value : []));
}

/** A host name must resolve, and only to public addresses (unless the operator allows private ones). */
async function checkResolvedHost(tx: Tx, url: string | undefined): Promise<void> {
  if (url === undefined) return;
  const host = new URL(url).hostname;
  if (/^\[|^[\d.]+$/.test(host)) return; // an address: the database checks it
  const addresses = await resolve(host);
  const [row] = await tx`select public.webhook_addresses_allowed(${addresses}::inet[]) as ok`;
  if (row?.ok) return;
  throw refused(addresses.length ? 'must not resolve to a private, loopback or reserved address' : 'host does not resolve');
}

const webhooks = defineFunction('webhooks', {
  listWebhooks: ({ tx, query }) => listPage(tx, webhookResource, query),
  createWebhook: async ({ tx, body }) => {
    await checkResolvedHost(tx, body.url);
    const [row] = await tx`select public.create_webhook(${body.url}, ${body.events}::text[], ${body.description ?? null}) as w`;
    return { ...webhookResource.toDto(row!.w), secret: row!.w.secret };
  },
  getWebhook: ({ tx, params }) => findOne(tx, webhookResource, params.id),
  updateWebhook: async ({ tx, params, body }) => {
    await checkResolvedHost(tx, body.url);
    return updateOne(tx, webhookResource, params.id, body);
  },
  deleteWebhook: ({ tx, params }) => deleteOne(tx, webhookResource, params.id),
  listWebhookDeliveries: async ({ tx, params, query }) => {
    await findOne(tx, webhookResource, params.id); // 404 for an endpoint that is not yours
    return listPage(tx, attemptLog, query, { where: tx`and t.endpoint_id = ${params.id}` });
  },
  testWebhook: async ({ tx, params }) => {
    const [row] = await tx`select public.test_webhook(${params.id}) as id`;
    return { eventId: row!.id };
  },
});

export default webhooks;
serveIfMain(import.meta.main, webhooks);
