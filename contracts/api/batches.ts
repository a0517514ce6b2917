// Named groups of channels; a campaign may target whole batches.
import { z } from 'zod';
import { idListSchema, idSchema, pageQuerySchema, pageSchema, patchSchema, text, timestampSchema } from './common.ts';

const name = text(1, 200);
const channelIds = idListSchema(10_000);

export const createBatchSchema = z.strictObject({ name, channelIds: channelIds.optional() });
export const updateBatchSchema = patchSchema({ name });
export const setBatchChannelsSchema = z.strictObject({ channelIds });

export const batchSchema = z.object({
  id: idSchema,
  name: z.string(),
  channelIds: z.array(idSchema),
  channelCount: z.number().int(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const batchListQuerySchema = pageQuerySchema;
export const batchPageSchema = pageSchema(batchSchema);

export type Batch = z.infer<typeof batchSchema>;
export type CreateBatch = z.input<typeof createBatchSchema>;
