// Building blocks shared by every resource's schemas: ids, times, pagination, the error body.
import { z } from 'zod';

/** Any 8-4-4-4-12 hex id, as Postgres' uuid type accepts (z.uuid() would also demand an RFC variant). */
export const idSchema = z.guid({ error: 'must be a UUID' });
export const timestampSchema = z.iso.datetime({ offset: true });

/** No NUL characters: Postgres text cannot hold them, so they are refused here with a field name. */
export const text = (min: number, max: number) =>
  z.string()
    .min(min, { error: min === 1 ? 'must not be empty' : `must have at least ${min} characters` })
    .max(max, { error: `must have at most ${max} characters` })
    .refine((s) => !s.includes('\u0000'), { error: 'must not contain NUL characters' });

export const parseModeSchema = z.enum(['html', 'markdown', 'plain']);

export const idParamsSchema = z.object({ id: idSchema });

export const MAX_PAGE_SIZE = 100;
/** Query strings carry text, so limit is coerced; cursor is the opaque `nextCursor` of a page. */
export const pageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  cursor: z.string().max(200).optional(),
});

export const pageSchema = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const errorCodeSchema = z.enum([
  'bad_request', // 400: malformed JSON or body
  'unauthorized', // 401: missing or invalid token
  'forbidden', // 403
  'not_found', // 404: unknown route, or a resource that does not exist or is not yours
  'method_not_allowed', // 405
  'conflict', // 409: duplicate (e.g. the same peer twice) or a resource still in use
  'illegal_transition', // 409: a campaign action its current state does not allow
  'payload_too_large', // 413
  'validation_failed', // 422
  'quota_exceeded', // 422: a per-user limit (details name the quota and its limit)
  'login_refused', // 4xx: Telegram refused a sign-in step (details name its error, and FLOOD_WAIT's seconds)
  'login_interrupted', // 503: the worker died performing a sign-in step that is not performed twice; the message says what to send now
  'unavailable', // 503: database unreachable or busy; retry
  'internal', // 500: a bug; details are in the server log, never in the answer
]);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

export const errorIssueSchema = z.object({
  /** The offending field, e.g. ['message', 'text'] or ['peers', 3]. Empty for the body as a whole. */
  path: z.array(z.union([z.string(), z.number()])),
  message: z.string(),
});
export type ErrorIssue = z.infer<typeof errorIssueSchema>;

export const errorBodySchema = z.object({
  error: z.object({
    code: errorCodeSchema,
    message: z.string(),
    issues: z.array(errorIssueSchema).optional(),
    /**
     * For illegal_transition: the campaign's current state (`from`), the wanted one and the action.
     * For quota_exceeded: the quota's name and the caller's limit.
     * For login_refused: Telegram's error (PHONE_CODE_INVALID...) and, for FLOOD_WAIT, the seconds to wait.
     */
    details: z.union([
      z.object({ from: z.string(), to: z.string(), action: z.string() }),
      z.object({ quota: z.string(), limit: z.number().int() }),
      z.object({ telegramError: z.string(), seconds: z.number().int().nullable() }),
    ]).optional(),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** A PATCH body: any subset of the fields, but at least one; unknown keys are refused. */
export const patchSchema = <S extends z.core.$ZodLooseShape>(shape: S) =>
  z.strictObject(shape).partial().refine((o) => Object.keys(o).length > 0, {
    error: 'give at least one field to change',
  });

/** Id lists: at most this many per request (10,000 UUIDs is ~400 kB of JSON, within the 1 MB limit). */
export const idListSchema = (max: number) => z.array(idSchema).max(max, { error: `at most ${max} ids` });
