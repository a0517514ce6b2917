// The one place where failures become HTTP answers `{ error: { code, message, issues?, details? } }`.
// Postgres errors follow PostgREST's convention (SQLSTATE 'PT' + status from the RPCs, constraint
// classes otherwise); anything unrecognised is a bug: 500, logged, with no internals in the answer.
import type { z } from 'zod';
import type { ErrorBody, ErrorCode, ErrorIssue } from '../../../contracts/api/common.ts';

type Details = NonNullable<ErrorBody['error']['details']>;

export class ApiError extends Error {
  status: number;
  code: ErrorCode;
  issues?: ErrorIssue[];
  details?: Details;
  headers?: Record<string, string>;
  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    extra: { issues?: ErrorIssue[]; details?: Details; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = extra.issues;
    this.details = extra.details;
    this.headers = extra.headers;
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  422: 'validation_failed',
  503: 'unavailable',
};

export function fromZod(err: z.ZodError, where: 'body' | 'query' | 'path'): ApiError {
  const issues = err.issues.flatMap((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? p : String(p)));
    // One issue per unknown key, named, so a client sees which field to drop.
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: [...path, k], message: 'unknown field' }));
    return [{ path, message: i.message }];
  });
  const first = issues[0];
  const field = first && first.path.length ? `${first.path.join('.')}: ` : '';
  const noun = where === 'body' ? 'request body' : where === 'query' ? 'query parameters' : 'path';
  // A list longer than the API takes (e.g. > 1000 peers to import) is a too-large request.
  const tooMany = err.issues.some((i) => i.code === 'too_big' && i.origin === 'array');
  return new ApiError(
    tooMany ? 413 : 422,
    tooMany ? 'payload_too_large' : 'validation_failed',
    `invalid ${noun}: ${field}${first?.message ?? 'invalid'}`,
    { issues },
  );
}

interface PgError {
  code: string;
  message: string;
  detail?: string;
  constraint_name?: string;
  column_name?: string;
}

function isPgError(err: unknown): err is PgError {
  return err instanceof Error && err.name === 'PostgresError' && typeof (err as { code?: unknown }).code === 'string';
}

const camel = (col: string) => col.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Unique constraints users can hit, with the field and a message that says what to do. */
const UNIQUE: Record<string, [field: string, message: string]> = {
  channels_owner_id_peer_key: ['peer', 'you already have a channel with this peer'],
  batches_owner_id_name_key: ['name', 'you already have a batch with this name'],
  templates_owner_id_name_key: ['name', 'you already have a template with this name'],
};

function fromPg(err: PgError): ApiError | undefined {
  const { code } = err;
  if (/^PT\d{3}$/.test(code)) {
    const status = Number(code.slice(2));
    // The RPCs put what the client needs in DETAIL as JSON: { from, to, action } for an illegal
    // transition, { field } for the request field at fault.
    let d: { from?: string; to?: string; action?: string; quota?: string; limit?: number; field?: string } = {};
    try {
      d = err.detail ? JSON.parse(err.detail) : {};
    } catch { /* plain text detail */ }
    if (status === 409 && d.from && d.to && d.action) {
      return new ApiError(409, 'illegal_transition', err.message, { details: { from: d.from, to: d.to, action: d.action } });
    }
    const issues = d.field ? [{ path: d.field.split('.'), message: err.message }] : undefined;
    if (d.quota && typeof d.limit === 'number') {
      return new ApiError(status, 'quota_exceeded', err.message, { issues, details: { quota: d.quota, limit: d.limit } });
    }
    return new ApiError(status, CODE_BY_STATUS[status] ?? 'bad_request', err.message, { issues });
  }
  if (code === '23505') {
    const [field, message] = UNIQUE[err.constraint_name ?? ''] ?? ['', 'conflicts with an existing row'];
    return new ApiError(409, 'conflict', message, { issues: field ? [{ path: [field], message }] : undefined });
  }
  if (code === '23503') {
    // Deleting a row others still reference (an account used by campaigns) vs pointing at nothing.
    if (/^update or delete/.test(err.message)) {
      return new ApiError(409, 'conflict', 'still in use: delete or finish what refers to it first');
    }
    return new ApiError(422, 'validation_failed', 'refers to something that does not exist');
  }
  if (code === '23514' && err.constraint_name === 'campaigns_message_text_check') {
    // A template's text with its variables filled in, or message.text: the client's field either way.
    const message = 'the message is empty or longer than 4096 characters (after filling in the variables)';
    return new ApiError(422, 'validation_failed', message, { issues: [{ path: ['message', 'text'], message }] });
  }
  if (code === '23514' || code === '23502') {
    const col = err.column_name ?? /^[a-z]+_([a-z_]+?)_check\d*$/.exec(err.constraint_name ?? '')?.[1];
    const message = code === '23502' ? 'is required' : 'is out of the allowed range';
    return new ApiError(422, 'validation_failed', `${col ? camel(col) : 'value'} ${message}`, {
      issues: col ? [{ path: [camel(col)], message }] : undefined,
    });
  }
  // Data exceptions (bad peer, bad uuid text, NUL bytes, out-of-range numbers) are the caller's input.
  if (code.startsWith('22')) {
    const peer = /^(not a Telegram peer|peer is empty)/.test(err.message); // from public.normalize_peer
    return new ApiError(422, 'validation_failed', err.message, {
      issues: peer ? [{ path: ['peer'], message: err.message }] : undefined,
    });
  }
  if (code === '42501') return new ApiError(403, 'forbidden', 'not allowed');
  if (['40001', '40P01', '55P03', '57014', '53300'].includes(code) || code.startsWith('08')) {
    return new ApiError(503, 'unavailable', 'the database is busy; try again');
  }
  return undefined;
}

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isPgError(err)) {
    const mapped = fromPg(err);
    if (mapped) return mapped;
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) {
    return new ApiError(503, 'unavailable', 'the database is unreachable; try again');
  }
  return new ApiError(500, 'internal', 'internal error');
}

export function jsonResponse(status: number, body: unknown, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/** The error answer; 5xx are logged with what identifies the failure (never headers or bodies). */
export function errorResponse(err: unknown, req?: Request, headers: HeadersInit = {}): Response {
  const e = toApiError(err);
  if (e.status >= 500) {
    const where = req ? `${req.method} ${new URL(req.url).pathname}` : '';
    const what = err instanceof Error ? `${err.name} ${(err as { code?: string }).code ?? ''} ${err.message}` : String(err);
    console.error(`[functions] ${e.status} ${where}: ${what}`);
  }
  const body: ErrorBody = { error: { code: e.code, message: e.message } };
  if (e.issues?.length) body.error.issues = e.issues;
  if (e.details) body.error.details = e.details;
  return jsonResponse(e.status, body, { ...headers, ...e.headers });
}
