// Actions on a campaign's sent posts (edit, delete, pin, unpin): each an RPC that records one
// action per post and queues its job in the same transaction (migration *_post_actions.sql).
import type { Delivery } from '../../../contracts/api/campaigns.ts';
import type { Row, Tx } from '../_shared/db.ts';

/** The fields of a create or PATCH body that set_post_actions takes, and the rest. */
export function splitPostActions<B extends Record<string, unknown>>(body: B): { post: Record<string, unknown>; rest: B } {
  const { deleteAfter, pin, ...rest } = body;
  const post = Object.fromEntries(Object.entries({ deleteAfter, pin }).filter(([, v]) => v !== undefined));
  return { post, rest: rest as B };
}

/** A body the RPC validates again (its rules hold for every caller), sent as jsonb. */
type Json = Parameters<Tx['json']>[0];

export const setPostActions = (tx: Tx, id: string, changes: Record<string, unknown>): Promise<Row[]> =>
  tx`select t.* from public.set_post_actions(${id}::uuid, ${tx.json(changes as Json)}::jsonb) t`;

export const editMessage = (tx: Tx, id: string, message: Record<string, unknown>): Promise<Row[]> =>
  tx`select t.* from public.edit_campaign_message(${id}::uuid, ${tx.json(message as Json)}::jsonb) t`;

const RPC_OF = {
  'delete-posts': 'delete_campaign_posts',
  'actions/cancel': 'cancel_post_actions',
} as const;

export const postsRpc = (tx: Tx, what: keyof typeof RPC_OF, id: string): Promise<Row[]> =>
  tx`select t.* from public.${tx(RPC_OF[what])}(${id}::uuid) t`;

/** The latest action of each kind on the delivery's post (a column of the deliveries' select). */
export const latestActionsSql = `(select jsonb_object_agg(a.kind, jsonb_build_object('state', a.state,
    'version', a.version, 'errorCode', a.error_code, 'at', coalesce(a.done_at, a.due_at)))
  from (select distinct on (x.kind) x.* from public.delivery_actions x where x.delivery_id = t.id
    order by x.kind, x.created_at desc) a) as actions`;

export function actionsDto(actions: Record<string, Row> | null): Delivery['actions'] {
  return Object.fromEntries(
    Object.entries(actions ?? {}).map(([kind, a]) => [kind, { ...a, at: new Date(a.at).toISOString() }]),
  ) as Delivery['actions'];
}
