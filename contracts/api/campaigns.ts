// Campaigns (one message to many targets) and their deliveries (one per target).
import { z } from 'zod';
import { campaignStateSchema, pauseReasonSchema } from '../realtime.ts';
import {
  idListSchema,
  idSchema,
  pageQuerySchema,
  pageSchema,
  parseModeSchema,
  patchSchema,
  text,
  timestampSchema,
} from './common.ts';
import { captionFits, mediaSchema, messageTextSchema, variablesSchema } from './templates.ts';

export const MAX_CAMPAIGN_TARGETS = 100_000;

export const messageInputSchema = z.strictObject({
  text: messageTextSchema,
  parseMode: parseModeSchema.optional(),
  silent: z.boolean().optional(),
  linkPreview: z.boolean().optional(),
  /** Sent as a photo, video or document with `text` as its caption (at most 1,024 characters). */
  media: mediaSchema.optional(),
}).superRefine(captionFits);

export const createCampaignSchema = z.strictObject({
  name: text(1, 200),
  templateId: idSchema.optional(),
  message: messageInputSchema.optional(),
  /** Values for the message's {{name}} placeholders; every placeholder needs one. */
  variables: variablesSchema.optional(),
  channelIds: idListSchema(MAX_CAMPAIGN_TARGETS).optional(),
  batchIds: idListSchema(1000).optional(),
  /** Defaults to the user's first active account. */
  accountId: idSchema.optional(),
  ratePerMinute: z.number().int().min(1).max(1_000_000).optional(),
  /** Pause the campaign once more than this many deliveries failed. */
  maxErrors: z.number().int().min(0).max(1_000_000).optional(),
  scheduledAt: timestampSchema.optional(),
}).superRefine((b, ctx) => {
  if ((b.templateId === undefined) === (b.message === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['templateId'], message: 'give exactly one of templateId and message' });
  }
  if (!b.channelIds?.length && !b.batchIds?.length) {
    ctx.addIssue({ code: 'custom', path: ['channelIds'], message: 'give channelIds or batchIds' });
  }
});

/**
 * PATCH /campaigns/{id}: any of these, at least one. null clears ratePerMinute (no cap), maxErrors
 * (no threshold) and scheduledAt. name, ratePerMinute and maxErrors change until the campaign is
 * completed or cancelled; scheduledAt only in draft. A lowered maxErrors never pauses the campaign
 * by itself: it applies from the next failure.
 */
export const updateCampaignSchema = patchSchema({
  name: text(1, 200),
  /** Sends per minute for this campaign; null: only the account's pace. */
  ratePerMinute: z.number().int().min(1).max(1_000_000).nullable(),
  /** Pause the campaign once more than this many deliveries failed; null: never. */
  maxErrors: z.number().int().min(0).max(1_000_000).nullable(),
  /** Draft only: when the campaign starts sending once started; null: at once. */
  scheduledAt: timestampSchema.nullable(),
});

export const campaignActionSchema = z.enum(['start', 'pause', 'resume', 'cancel', 'retry-failed']);
export type CampaignAction = z.infer<typeof campaignActionSchema>;

/** POST /campaigns/{id}/test: where to send the test; without channelId, the account's Saved Messages. */
export const testCampaignSchema = z.strictObject({
  /** One of the user's channels; the account must be allowed to post there. */
  channelId: idSchema.optional(),
});

export const testSendSchema = z.object({
  id: idSchema,
  campaignId: idSchema,
  /** "me" (Saved Messages) or the channel's peer. */
  peer: z.string(),
  channelId: idSchema.nullable(),
  /** pending only when the worker did not answer within the wait (it gives up on it after 60 s). */
  state: z.enum(['pending', 'sent', 'failed']),
  /** A string: Telegram ids may exceed 2^53. */
  telegramMessageId: z.string().nullable(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  createdAt: timestampSchema,
  sentAt: timestampSchema.nullable(),
});

export const campaignSchema = z.object({
  id: idSchema,
  name: z.string(),
  state: campaignStateSchema,
  pauseReason: pauseReasonSchema.nullable(),
  /** When a FLOOD_WAIT pause ends; the campaign resumes by itself then. */
  resumeAt: timestampSchema.nullable(),
  /** Null only for a finished campaign whose account was deleted since. */
  accountId: idSchema.nullable(),
  templateId: idSchema.nullable(),
  /** The message as rendered at creation; later template edits do not change it. */
  message: z.object({
    text: z.string(),
    parseMode: parseModeSchema,
    silent: z.boolean(),
    linkPreview: z.boolean(),
    /** The file as it was when the campaign was created (content type and size in bytes). */
    media: mediaSchema.extend({ mimeType: z.string(), size: z.number().int() }).nullable(),
  }),
  /** The latest test send (POST /campaigns/{id}/test), if any. */
  lastTest: testSendSchema.nullable(),
  ratePerMinute: z.number().int().nullable(),
  maxErrors: z.number().int().nullable(),
  scheduledAt: timestampSchema.nullable(),
  /** Deliveries per state; total = pending + sent + failed + unconfirmed + cancelled. */
  counts: z.object({
    total: z.number().int(),
    pending: z.number().int(),
    sent: z.number().int(),
    failed: z.number().int(),
    /** The last attempt's outcome is unknown (timeouts): maybe delivered; retry-failed retries them safely. */
    unconfirmed: z.number().int(),
    cancelled: z.number().int(),
  }),
  startedAt: timestampSchema.nullable(),
  completedAt: timestampSchema.nullable(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const deliveryStateSchema = z.enum(['pending', 'sent', 'failed', 'unconfirmed', 'cancelled']);

export const deliverySchema = z.object({
  id: idSchema,
  campaignId: idSchema,
  /** Null when the channel was deleted after the campaign was created. */
  channelId: idSchema.nullable(),
  peer: z.string(),
  state: deliveryStateSchema,
  attempts: z.number().int(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  /** A string: Telegram ids may exceed 2^53. */
  telegramMessageId: z.string().nullable(),
  nextAttemptAt: timestampSchema.nullable(),
  sentAt: timestampSchema.nullable(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const campaignListQuerySchema = pageQuerySchema.extend({ state: campaignStateSchema.optional() });
export const deliveryListQuerySchema = pageQuerySchema.extend({ state: deliveryStateSchema.optional() });
export const campaignPageSchema = pageSchema(campaignSchema);
export const deliveryPageSchema = pageSchema(deliverySchema);

export type Campaign = z.infer<typeof campaignSchema>;
export type CreateCampaign = z.input<typeof createCampaignSchema>;
export type UpdateCampaign = z.input<typeof updateCampaignSchema>;
export type Delivery = z.infer<typeof deliverySchema>;
export type TestSend = z.infer<typeof testSendSchema>;
