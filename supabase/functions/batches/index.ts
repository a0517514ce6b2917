// Function `batches`: named groups of channels (DESIGN §6).
import type { Batch } from '../../../contracts/api/batches.ts';
import { defineFunction, serveIfMain } from '../_shared/app.ts';
import { deleteOne, findOne, insertOne, isoNN, listPage, updateOne, type OwnedResource } from '../_shared/crud.ts';
import { uuidArray, type Tx } from '../_shared/db.ts';

export const batchResource: OwnedResource<Batch> = {
  table: 'batches',
  noun: 'batch',
  select: `t.id, t.name, t.created_at, t.updated_at,
    coalesce((select array_agg(bc.channel_id order by bc.added_at, bc.channel_id)
              from public.batch_channels bc where bc.batch_id = t.id), '{}') as channel_ids`,
  columns: { name: 'name' },
  toDto: (r) => ({
    id: r.id, name: r.name, channelIds: r.channel_ids, channelCount: r.channel_ids.length,
    createdAt: isoNN(r.created_at), updatedAt: isoNN(r.updated_at),
  }),
};

/** The RPC checks the batch (404) and the channels (422) under RLS. */
async function setChannels(tx: Tx, batchId: string, channelIds: string[]): Promise<Batch> {
  await tx`select public.set_batch_channels(${batchId}::uuid, ${uuidArray(channelIds)}::uuid[])`;
  return findOne(tx, batchResource, batchId);
}

const batches = defineFunction('batches', {
  listBatches: ({ tx, query }) => listPage(tx, batchResource, query),
  createBatch: async ({ tx, body }) => {
    const batch = await insertOne(tx, batchResource, body);
    return body.channelIds?.length ? setChannels(tx, batch.id, body.channelIds) : batch;
  },
  getBatch: ({ tx, params }) => findOne(tx, batchResource, params.id),
  updateBatch: ({ tx, params, body }) => updateOne(tx, batchResource, params.id, body),
  deleteBatch: ({ tx, params }) => deleteOne(tx, batchResource, params.id),
  setBatchChannels: ({ tx, params, body }) => setChannels(tx, params.id, body.channelIds),
});

export default batches;
serveIfMain(import.meta.main, batches);
