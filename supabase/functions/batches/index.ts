// Function `batches`: named groups of channels. A batch is answered as a summary (its member
// count, kept on the row by the database); members are paged like any list, so no answer grows
// with the size of a batch.
import type { Batch } from '../../../contracts/api/batches.ts';
import type { Channel } from '../../../contracts/api/channels.ts';
import { defineFunction, serveIfMain } from '../_shared/app.ts';
import { deleteOne, findOne, insertOne, isoNN, type Listable, listPage, type OwnedResource, updateOne } from '../_shared/crud.ts';
import { type Tx, uuidArray } from '../_shared/db.ts';
import { channelResource } from '../channels/index.ts';

export const batchResource: OwnedResource<Batch> = {
  table: 'batches',
  noun: 'batch',
  select: 't.id, t.name, t.channel_count, t.created_at, t.updated_at',
  columns: { name: 'name' },
  toDto: (r) => ({
    id: r.id,
    name: r.name,
    channelCount: r.channel_count,
    createdAt: isoNN(r.created_at),
    updatedAt: isoNN(r.updated_at),
  }),
};

/** A batch's channels in the order of the membership key, so a page is one index range. */
const members: Listable<Channel> = {
  ...channelResource,
  from: 'public.batch_channels bc join public.channels t on t.id = bc.channel_id',
  idColumn: 'bc.channel_id',
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
  listBatchChannels: async ({ tx, params, query }) => {
    await findOne(tx, batchResource, params.id); // 404 before an empty page
    return listPage(tx, members, query, { where: tx`and bc.batch_id = ${params.id}`, order: 'id' });
  },
  setBatchChannels: ({ tx, params, body }) => setChannels(tx, params.id, body.channelIds),
});

export default batches;
serveIfMain(import.meta.main, batches);
