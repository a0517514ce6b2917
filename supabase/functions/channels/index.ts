// Function `channels`: the Telegram channels and groups a user sends to. Routes: contracts/api/routes.ts; errors: docs/architecture.md §2.
import type { Channel } from '../../../contracts/api/channels.ts';
import { defineFunction, serveIfMain } from '../_shared/app.ts';
import { deleteOne, findOne, insertOne, iso, isoNN, listPage, type OwnedResource, updateOne } from '../_shared/crud.ts';

export const channelResource: OwnedResource<Channel> = {
  table: 'channels',
  noun: 'channel',
  select: 't.id, t.peer, t.peer_kind, t.title, t.tags, t.telegram_id, t.resolved_at, t.created_at, t.updated_at',
  columns: { peer: 'peer', title: 'title', tags: 'tags' },
  toDto: (r) => ({
    id: r.id,
    peer: r.peer,
    peerKind: r.peer_kind,
    title: r.title,
    tags: r.tags,
    telegramId: r.telegram_id,
    resolvedAt: iso(r.resolved_at),
    createdAt: isoNN(r.created_at),
    updatedAt: isoNN(r.updated_at),
  }),
};

const channels = defineFunction('channels', {
  listChannels: ({ tx, query }) =>
    listPage(tx, channelResource, query, { where: query.tag ? tx`and ${query.tag}::text = any (t.tags)` : undefined }),
  createChannel: ({ tx, body }) => insertOne(tx, channelResource, body),
  importChannels: async ({ tx, body }) => {
    // jsonb carries any strings safely; the RPC normalises each and reports the bad ones.
    const [row] = await tx`
      select public.import_channels(array(select jsonb_array_elements_text(${tx.json(body.peers)}::jsonb))) as result`;
    return row!.result;
  },
  getChannel: ({ tx, params }) => findOne(tx, channelResource, params.id),
  updateChannel: ({ tx, params, body }) => updateOne(tx, channelResource, params.id, body),
  deleteChannel: ({ tx, params }) => deleteOne(tx, channelResource, params.id),
});

export default channels;
serveIfMain(import.meta.main, channels);
