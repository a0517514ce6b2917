// Named groups of channels; a campaign may target whole batches. A batch is answered as a summary
// (its channelCount); its members are paged through GET /batches/{id}/channels, so no answer
// grows with the size of a batch.
import { z } from 'zod';
import { idListSchema, idSchema, pageQuerySchema, pageSchema, patchSchema, text, timestampSchema } from './common.ts';

const name = text(1, 200);
/** The default per-batch quota (the database enforces the owner's own: docs/decisions.md, "Quotas"). */
export const MAX_BATCH_CHANNELS = 10_000;
const channelIds = idListSchema(MAX_BATCH_CHANNELS);

export const createBatchSchema = z.strictObject({ name, channelIds: channelIds.optional() });
export const updateBatchSchema = patchSchema({ name });
export const setBatchChannelsSchema = z.strictObject({ channelIds });

export const batchSchema = z.object({
  id: idSchema,
  name: z.string(),
  channelCount: z.number().int(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const batchListQuerySchema = pageQuerySchema;
export const batchChannelsQuerySchema = pageQuerySchema;
export const batchPageSchema = pageSchema(batchSchema);

export type Batch = z.infer<typeof batchSchema>;
export type CreateBatch = z.input<typeof createBatchSchema>;
