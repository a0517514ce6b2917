// Telegram channels and groups a user sends to. Peers are normalised by the database
// (public.normalize_peer), so '@Name', 't.me/name' and 'https://t.me/name' are one channel.
import { z } from 'zod';
import { idSchema, pageQuerySchema, pageSchema, patchSchema, text, timestampSchema } from './common.ts';

export const MAX_IMPORT_PEERS = 1000;

const peer = text(1, 300).describe('@username, t.me/name, t.me/+invite or a -100… chat id');
const tag = text(1, 50);
const tags = z.array(tag).max(20, { error: 'at most 20 tags' });

const channelFields = {
  peer,
  title: text(1, 255).nullable(),
  tags,
};

export const createChannelSchema = z.strictObject({
  peer,
  title: channelFields.title.optional(),
  tags: tags.optional(),
});
export const updateChannelSchema = patchSchema(channelFields);

export const importChannelsSchema = z.strictObject({
  // Items are checked one by one by the database, which reports each bad one in `errors`.
  peers: z.array(
    z.string().max(300, { error: 'must have at most 300 characters' })
      .refine((s) => !s.includes('\u0000'), { error: 'must not contain NUL characters' }),
  )
    .max(MAX_IMPORT_PEERS, { error: `at most ${MAX_IMPORT_PEERS} peers per import` }),
});

export const importChannelsResultSchema = z.object({
  created: z.number().int(),
  duplicates: z.number().int(),
  errors: z.array(z.object({ index: z.number().int(), peer: z.string().nullable(), message: z.string() })),
});

export const channelSchema = z.object({
  id: idSchema,
  /** Canonical form: '@username' (lower case), '+invitehash' or a '-100…' chat id. */
  peer: z.string(),
  peerKind: z.enum(['username', 'invite', 'id']),
  title: z.string().nullable(),
  tags: z.array(z.string()),
  /** Telegram's id once the worker resolved the peer (a string: it may exceed 2^53). */
  telegramId: z.string().nullable(),
  resolvedAt: timestampSchema.nullable(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const channelListQuerySchema = pageQuerySchema.extend({ tag: tag.optional() });
export const channelPageSchema = pageSchema(channelSchema);

export type Channel = z.infer<typeof channelSchema>;
export type CreateChannel = z.input<typeof createChannelSchema>;
export type UpdateChannel = z.input<typeof updateChannelSchema>;
export type ImportChannelsResult = z.infer<typeof importChannelsResultSchema>;
