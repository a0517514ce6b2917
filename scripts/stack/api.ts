// Calls the function URLs the way a client app does (bearer user JWT + apikey), for the demo
// and the stack's tests. Errors carry the API's { error: { code, message } } body.
import type { Campaign } from '../../contracts/api/campaigns.ts';
import type { StackInfo } from './index.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown, what: string) {
    const msg = (body as { error?: { message?: string } } | null)?.error?.message ?? JSON.stringify(body);
    super(`${what} → ${status}: ${msg}`);
    this.status = status;
    this.body = body;
  }
}

export interface Api {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  getCampaign(id: string): Promise<Campaign>;
}

export function apiFor(info: Pick<StackInfo, 'functionsUrl' | 'anonKey' | 'demoToken'>): Api {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${info.functionsUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${info.demoToken}`,
        apikey: info.anonKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (!res.ok) throw new ApiError(res.status, parsed, `${method} ${path}`);
    return parsed as T;
  };
  return { call, getCampaign: (id) => call<Campaign>('GET', `/campaigns/${id}`) };
}

/** Runs fn over items with at most `limit` in flight (e.g. 100 channel creations, 8 at a time). */
export async function mapLimit<I, O>(items: I[], limit: number, fn: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const out: O[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}
