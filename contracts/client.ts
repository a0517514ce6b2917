// A small typed client for client apps, on supabase-js `functions.invoke`: one method per
// operation of the route table, e.g.
//
//   const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY);   // user signed in
//   const api = createApiClient(supabase);
//   const campaign = await api.createCampaign({ name, message: { text: 'Hi' }, channelIds });
//   await api.startCampaign(campaign.id);
//   const page = await api.listDeliveries(campaign.id, { state: 'failed', limit: 100 });
//
// Arguments in order: the id (for /{id} routes), the body, the query. Failures throw
// ApiRequestError with the status and the `{ code, message, issues, details }` of the answer.
import type { SupabaseClient } from '@supabase/supabase-js';
import type { z } from 'zod';
import type { ErrorBody, ErrorCode, ErrorIssue } from './api/common.ts';
import { type OperationId, type RequestInput, type ResponseBody, type Routes, routes } from './api/routes.ts';

type IdArg<K extends OperationId> = Routes[K] extends { params: z.ZodType } ? [id: string] : [];
type BodyArg<K extends OperationId> = Routes[K] extends { body: z.ZodType } ? [body: RequestInput<K>['body']] : [];
type QueryArg<K extends OperationId> = Routes[K] extends { query: z.ZodType } ? [query?: Partial<RequestInput<K>['query']>] : [];
export type ApiArgs<K extends OperationId> = [...IdArg<K>, ...BodyArg<K>, ...QueryArg<K>];

export type ApiClient = { [K in OperationId]: (...args: ApiArgs<K>) => Promise<ResponseBody<K>> };

export class ApiRequestError extends Error {
  status: number;
  code: ErrorCode | 'network';
  issues?: ErrorIssue[];
  details?: ErrorBody['error']['details'];
  constructor(status: number, body: Partial<ErrorBody['error']>) {
    super(body.message ?? `request failed with status ${status}`);
    this.name = 'ApiRequestError';
    this.status = status;
    this.code = body.code ?? 'network';
    this.issues = body.issues;
    this.details = body.details;
  }
}

/** Only the part of supabase-js this client uses (keeps the type loose across versions). */
type FunctionsInvoker = Pick<SupabaseClient, 'functions'>;

async function toApiError(error: unknown): Promise<ApiRequestError> {
  const res = (error as { context?: Response }).context;
  if (res && typeof res.json === 'function' && typeof res.status === 'number') {
    const body = await res.json().catch(() => ({})) as Partial<ErrorBody>;
    return new ApiRequestError(res.status, body.error ?? {});
  }
  return new ApiRequestError(0, { message: (error as Error)?.message ?? String(error) });
}

export function createApiClient(supabase: FunctionsInvoker): ApiClient {
  const client: Partial<Record<OperationId, (...args: unknown[]) => Promise<unknown>>> = {};
  for (const op of Object.keys(routes) as OperationId[]) {
    const spec = routes[op];
    client[op] = async (...args: unknown[]) => {
      let path: string = spec.path;
      if ('params' in spec) path = path.replace('{id}', encodeURIComponent(String(args.shift())));
      const body = 'body' in spec ? args.shift() : undefined;
      const query = 'query' in spec ? (args.shift() as Record<string, unknown> | undefined) : undefined;
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) qs.set(k, String(v));
      const name = `${spec.fn}${path === '/' ? '' : path}${qs.size ? `?${qs}` : ''}`;
      const { data, error } = await supabase.functions.invoke(name, {
        method: spec.method,
        ...(body !== undefined && { body: body as Record<string, unknown> }),
      });
      if (error) throw await toApiError(error);
      return spec.status === 204 ? undefined : data;
    };
  }
  return client as ApiClient;
}
