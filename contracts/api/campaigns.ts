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

/** An ISO 8601 duration of weeks, days, hours, minutes or seconds (PT24H, P2D, PT90M), 1 s to 366 days. */
export const durationSchema = z.string().regex(/^P(\d{1,4}W|(\d{1,4}D)?(T(\d{1,6}H)?(\d{1,8}M)?(\d{1,9}S)?)?)$/, {
  error: 'must be an ISO 8601 duration of weeks, days, hours, minutes or seconds, e.g. PT24H',
}).refine((v) => !/^P$|T$/.test(v), { error: 'must be an ISO 8601 duration with at least one figure, e.g. PT24H' });

/** Pin each post once sent (and those already sent); unpinAfter: take the pin off that long after pinning. */
export const pinSchema = z.strictObject({
  /** No notification for the pin. */
  silent: z.boolean().optional(),
  unpinAfter: durationSchema.nullable().optional(),
});

/** Standing actions on the posts: both at creation, and later through PATCH /campaigns/{id}. */
const postActionFields = {
  /** Delete each post this long after it was sent (posts already sent: from their send time). */
  deleteAfter: durationSchema,
  pin: pinSchema,
};

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
  deleteAfter: postActionFields.deleteAfter.optional(),
  pin: postActionFields.pin.optional(),
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
  /** null: no deletes from now on (scheduled ones are cancelled). Not on a cancelled campaign. */
  deleteAfter: postActionFields.deleteAfter.nullable(),
  /** null: unpin the posts pinned and pin no more. Not on a cancelled campaign. */
  pin: postActionFields.pin.nullable(),
});

/**
 * PATCH /campaigns/{id}/message (running, paused or completed): a new message version. Pending
 * deliveries send it; every post already sent is edited to it (the caption, for a post with media).
 */
export const editMessageSchema = z.strictObject({
  text: messageTextSchema,
  parseMode: parseModeSchema.optional(),
  linkPreview: z.boolean().optional(),
  /**
   * A new file for a campaign sent with media (the same rules as at creation; the text is its
   * caption). Telegram replaces a post's media by an edit but never adds media to a text post nor
   * takes it away (messages.editMessage), so a text campaign cannot take it and null is refused.
   */
  media: z.strictObject(mediaSchema.shape, {
    error: (issue) =>
      issue.input === null
        ? "a post's media cannot be removed by an edit (Telegram only replaces it): give a new file or none"
        : undefined,
  }).optional(),
}).superRefine(captionFits);

export const postActionKindSchema = z.enum(['edit', 'delete', 'pin', 'unpin']);

/** Per action kind: the posts it was done to, still to do, and its failures per Telegram error. */
export const actionCountsSchema = z.object({
  edited: z.number().int(),
  deleted: z.number().int(),
  pinned: z.number().int(),
  unpinned: z.number().int(),
  /** Waiting, scheduled ones (deleteAfter, unpinAfter) included. */
  pending: z.number().int(),
  /** e.g. { edit: { MESSAGE_EDIT_TIME_EXPIRED: 2 } }: reported once per post, never retried. */
  failed: z.partialRecord(postActionKindSchema, z.record(z.string(), z.number().int())),
});

/** The latest action of a kind on one post. */
export const postActionSchema = z.object({
  state: z.enum(['pending', 'done', 'failed', 'cancelled']),
  /** An edit's message version. */
  version: z.number().int().nullable(),
  errorCode: z.string().nullable(),
  /** When it is due (pending) or when it ended. */
  at: timestampSchema,
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
    /** 1 at creation; each PATCH /campaigns/{id}/message that changes it adds one. */
    version: z.number().int(),
  }),
  deleteAfter: durationSchema.nullable(),
  pin: z.object({ silent: z.boolean(), unpinAfter: durationSchema.nullable() }).nullable(),
  /** Edits, deletes, pins and unpins of the sent posts. */
  actions: actionCountsSchema,
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
  /** The latest action of each kind on the post, if any. */
  actions: z.partialRecord(postActionKindSchema, postActionSchema),
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
export type EditMessage = z.input<typeof editMessageSchema>;
export type ActionCounts = z.infer<typeof actionCountsSchema>;
