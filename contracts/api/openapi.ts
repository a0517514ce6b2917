// OpenAPI 3.1 document generated from the route table and zod schemas (zod 4's JSON Schema
// output is draft 2020-12, which OpenAPI 3.1 uses as is). `node scripts/gen-openapi.ts` writes it
// to contracts/openapi.json; the functions serve the same document at <function>/openapi.json.
import { z } from 'zod';
import * as accounts from './accounts.ts';
import * as batches from './batches.ts';
import * as campaigns from './campaigns.ts';
import * as channels from './channels.ts';
import { errorBodySchema } from './common.ts';
import * as login from './login.ts';
import * as reach from './reach.ts';
import { type OperationId, routes, type RouteSpec } from './routes.ts';
import * as templates from './templates.ts';
import * as webhooks from './webhooks.ts';

type JsonSchema = Record<string, unknown>;

/** Response bodies are shared components, referenced by name. */
const components: Record<string, z.ZodType> = {
  Channel: channels.channelSchema,
  ChannelPage: channels.channelPageSchema,
  ImportChannelsResult: channels.importChannelsResultSchema,
  Batch: batches.batchSchema,
  BatchPage: batches.batchPageSchema,
  Template: templates.templateSchema,
  TemplatePage: templates.templatePageSchema,
  TemplatePreview: templates.templatePreviewSchema,
  Campaign: campaigns.campaignSchema,
  CampaignPage: campaigns.campaignPageSchema,
  Delivery: campaigns.deliverySchema,
  DeliveryPage: campaigns.deliveryPageSchema,
  TestSend: campaigns.testSendSchema,
  CampaignReach: reach.campaignReachSchema,
  ReachRefresh: reach.reachRefreshSchema,
  Account: accounts.accountSchema,
  AccountPage: accounts.accountPageSchema,
  Login: login.loginSchema,
  Webhook: webhooks.webhookSchema,
  WebhookPage: webhooks.webhookPageSchema,
  CreatedWebhook: webhooks.createdWebhookSchema,
  WebhookAttemptPage: webhooks.webhookAttemptPageSchema,
  WebhookTestResult: webhooks.webhookTestResultSchema,
  ErrorBody: errorBodySchema,
};

const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed request: the body is not JSON',
  401: 'Missing, expired or invalid access token',
  404: 'No such route, or the resource does not exist or is not yours',
  409:
    'Conflict: a duplicate, a resource still in use, or an illegal campaign state transition (error.details holds the current state)',
  413: 'Body larger than 1 MB, or too many items',
  422:
    'Validation failed: error.issues names each offending field; or quota_exceeded: a per-user limit (error.details names the quota and the limit)',
  500: 'Internal error (a bug; no details are returned)',
};

function schemaOf(schema: z.ZodType, io: 'input' | 'output', registry: z.core.$ZodRegistry<{ id?: string }>): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    metadata: registry,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

function parametersOf(spec: RouteSpec, registry: z.core.$ZodRegistry<{ id?: string }>): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [['path', spec.params], ['query', spec.query]] as const) {
    if (!schema) continue;
    const js = schemaOf(schema, 'input', registry) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, s] of Object.entries(js.properties ?? {})) {
      out.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema: s });
    }
  }
  return out;
}

function errorStatuses(spec: RouteSpec): number[] {
  const s = new Set<number>([401, 404, 500]);
  if (spec.body) [400, 413, 422].forEach((x) => s.add(x));
  if (spec.query || spec.params) s.add(422);
  if (spec.method !== 'GET') s.add(409);
  return [...s].sort();
}

export function buildOpenApiDocument(): JsonSchema {
  const registry = z.registry<{ id?: string }>();
  for (const [name, schema] of Object.entries(components)) registry.add(schema, { id: name });
  const ref = (schema: z.ZodType) => {
    const name = Object.entries(components).find(([, s]) => s === schema)?.[0];
    if (!name) throw new Error('response schemas must be registered components');
    return { $ref: `#/components/schemas/${name}` };
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const [operationId, spec] of Object.entries(routes) as [OperationId, RouteSpec][]) {
    const path = `/${spec.fn}${spec.path === '/' ? '' : spec.path}`;
    const responses: Record<string, unknown> = {
      [spec.status]: spec.response
        ? { description: 'Success', content: { 'application/json': { schema: ref(spec.response) } } }
        : spec.produces
        ? { description: 'Success', content: { [spec.produces]: { schema: { type: 'string' } } } }
        : { description: 'Success, no content' },
    };
    for (const status of errorStatuses(spec)) {
      responses[status] = { description: STATUS_TEXT[status], content: { 'application/json': { schema: ref(errorBodySchema) } } };
    }
    (paths[path] ??= {})[spec.method.toLowerCase()] = {
      operationId,
      summary: spec.summary,
      tags: [spec.fn],
      parameters: parametersOf(spec, registry),
      ...(spec.body && {
        requestBody: { required: true, content: { 'application/json': { schema: schemaOf(spec.body, 'input', registry) } } },
      }),
      responses,
    };
  }

  const all = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'output',
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  }) as { schemas: Record<string, JsonSchema> };
  const schemas = Object.fromEntries(
    Object.entries(all.schemas).map(([k, v]) => {
      const { $schema: _s, $id: _i, ...rest } = v;
      return [k, rest];
    }),
  );

  return {
    openapi: '3.1.0',
    info: {
      title: 'Telegram campaigns API',
      version: '1.0.0',
      description: 'Supabase Edge Functions for channels, batches, templates, campaigns and Telegram accounts. ' +
        "Send the user's Supabase access token as `Authorization: Bearer <jwt>` (and the anon key as `apikey` on hosted projects). " +
        'Lists take `limit` and `cursor` and answer `{ items, nextCursor }`. Errors are `{ error: { code, message, issues?, details? } }`.',
    },
    servers: [
      { url: 'http://127.0.0.1:54321/functions/v1', description: 'local router (npm start)' },
      { url: 'https://{projectRef}.supabase.co/functions/v1', variables: { projectRef: { default: 'your-project-ref' } } },
    ],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
