// Reach of a campaign's posts: views, forwards, replies and reactions read from Telegram by the
// worker (messages.getMessagesViews, messages.getMessagesReactions) 1 h, 6 h, 24 h and 72 h after each post and on the owner's refresh.
import { z } from 'zod';
import { idSchema, pageQuerySchema, pageSchema, timestampSchema } from './common.ts';

export const reachRoundSchema = z.enum(['1h', '6h', '24h', '72h', 'refresh']);

/** The campaign's totals after one round: every post's latest figures at that time (a point of the chart). */
export const reachPointSchema = z.object({
  round: reachRoundSchema,
  takenAt: timestampSchema,
  /** Posts sampled at least once by then. */
  posts: z.number().int(),
  views: z.number().int(),
  forwards: z.number().int(),
  replies: z.number().int(),
  /** Reactions of every kind summed (0 in rounds taken before reactions were read). */
  reactions: z.number().int(),
});

/** One sent post (one channel of the campaign) with its latest sample; figures null before its first. */
export const channelReachSchema = z.object({
  deliveryId: idSchema,
  channelId: idSchema.nullable(),
  peer: z.string(),
  /** A string: Telegram ids may exceed 2^53. */
  telegramMessageId: z.string(),
  sentAt: timestampSchema,
  views: z.number().int().nullable(),
  forwards: z.number().int().nullable(),
  replies: z.number().int().nullable(),
  /** Its reactions of every kind summed. */
  reactions: z.number().int().nullable(),
  /** When the latest sample was taken; null: not sampled yet. */
  sampledAt: timestampSchema.nullable(),
  samples: z.number().int(),
  /** Why the latest sample has no figures: Telegram's error for the channel, NO_PEER or NOT_A_CHANNEL. */
  errorCode: z.string().nullable(),
});

export const campaignReachSchema = z.object({
  campaignId: idSchema,
  totals: z.object({
    sent: z.number().int(),
    sampled: z.number().int(),
    views: z.number().int(),
    forwards: z.number().int(),
    replies: z.number().int(),
    reactions: z.number().int(),
    lastSampledAt: timestampSchema.nullable(),
  }),
  /** The campaign's totals after each round, oldest first (at most the latest 500). */
  history: z.array(reachPointSchema),
  /** The sent posts, a page of them (by delivery id). */
  channels: pageSchema(channelReachSchema),
});

export const reachQuerySchema = pageQuerySchema;

export const reachRefreshSchema = z.object({ campaignId: idSchema, queued: z.literal(true) });

export type ReachPoint = z.infer<typeof reachPointSchema>;
export type ChannelReach = z.infer<typeof channelReachSchema>;
export type CampaignReach = z.infer<typeof campaignReachSchema>;

/** The columns of GET /campaigns/{id}/deliveries.csv, in order. */
export const DELIVERIES_CSV_COLUMNS = [
  'delivery_id',
  'channel_id',
  'peer',
  'state',
  'attempts',
  'error_code',
  'error_message',
  'telegram_message_id',
  'sent_at',
  'updated_at',
  'views',
  'forwards',
  'replies',
  'sampled_at',
  // added after sampled_at, so readers of the earlier columns by position are not moved
  'reactions',
] as const;
