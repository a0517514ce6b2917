// Webhook endpoints: HTTPS URLs that receive signed campaign and account events, and the log of
// every attempt to deliver them. The signing secret is in the create answer only.
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_TEST_EVENT } from '../webhooks.ts';
import { idSchema, pageQuerySchema, pageSchema, patchSchema, text, timestampSchema } from './common.ts';

export const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);

const webhookFields = {
  url: z.url({ protocol: /^https?$/, error: 'must be an https URL' }).max(2000, { error: 'must have at most 2000 characters' }),
  events: z.array(webhookEventTypeSchema).min(1, { error: 'subscribe to at least one event' })
    .refine((a) => new Set(a).size === a.length, { error: 'must not repeat an event' }),
  description: text(0, 200).nullable(),
  enabled: z.boolean(),
};

export const createWebhookSchema = z.strictObject({
  url: webhookFields.url,
  events: webhookFields.events,
  description: webhookFields.description.optional(),
});
export const updateWebhookSchema = patchSchema(webhookFields);

export const webhookSchema = z.object({
  id: idSchema,
  url: z.string(),
  events: z.array(webhookEventTypeSchema),
  description: z.string().nullable(),
  enabled: z.boolean(),
  /** The first characters of the secret, to tell secrets apart; the secret itself is shown once. */
  secretPrefix: z.string(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});
export const createdWebhookSchema = webhookSchema.extend({
  /** Signs every call (Webhook-Signature); only in this answer, never again. */
  secret: z.string(),
});

export const webhookAttemptSchema = z.object({
  id: idSchema,
  deliveryId: idSchema,
  eventId: idSchema,
  eventType: z.union([webhookEventTypeSchema, z.literal(WEBHOOK_TEST_EVENT)]),
  attempt: z.number().int(),
  /** The receiver's HTTP status; null when no answer came (refused address, timeout, network). */
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  /** Whether the delivery (this event to this endpoint) has been answered with a 2xx. */
  delivered: z.boolean(),
  durationMs: z.number().int().nullable(),
  startedAt: timestampSchema,
  /** null: the attempt never finished (the worker stopped mid-attempt). */
  finishedAt: timestampSchema.nullable(),
});

export const webhookTestResultSchema = z.object({ eventId: idSchema });

export const webhookListQuerySchema = pageQuerySchema;
export const webhookPageSchema = pageSchema(webhookSchema);
export const webhookAttemptPageSchema = pageSchema(webhookAttemptSchema);

export type Webhook = z.infer<typeof webhookSchema>;
export type CreatedWebhook = z.infer<typeof createdWebhookSchema>;
export type WebhookAttempt = z.infer<typeof webhookAttemptSchema>;
