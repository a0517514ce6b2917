// Function `campaigns`: create, inspect and drive campaigns (docs/architecture.md). Every change is an RPC,
// which enforces the state machine (409 on an illegal transition) and queues jobs in the same
// transaction.
import type { Campaign, CampaignAction, Delivery, TestSend } from '../../../contracts/api/campaigns.ts';
import { isoDuration, sleep } from '../../../contracts/time.ts';
import { AfterCommit, defineFunction, serveIfMain } from '../_shared/app.ts';
import type { UserClaims } from '../_shared/auth.ts';
import { findOne, iso, isoNN, type Listable, listPage, type OwnedResource } from '../_shared/crud.ts';
import { asUser, type Row, type Tx, uuidArray } from '../_shared/db.ts';
import { actionsDto, editMessage, latestActionsSql, postsRpc, setPostActions, splitPostActions } from './actions.ts';
import { campaignReach, deliveriesCsv, ownCampaign, refreshReach } from './reach.ts';

export const campaignResource: OwnedResource<Campaign> = {
  table: 'campaigns',
  noun: 'campaign',
  // The latest test send rides along, so a page showing the campaign shows its test too.
  select: `t.*, (select to_jsonb(x) from public.campaign_test_sends x where x.campaign_id = t.id
    order by x.created_at desc limit 1) as last_test`,
  columns: {},
  toDto: (r) => ({
    id: r.id,
    name: r.name,
    state: r.state,
    pauseReason: r.pause_reason,
    resumeAt: iso(r.resume_at),
    accountId: r.account_id,
    templateId: r.template_id,
    message: {
      text: r.message_text,
      parseMode: r.parse_mode,
      silent: r.silent,
      linkPreview: r.link_preview,
      media: r.media_path === null
        ? null
        : { path: r.media_path, kind: r.media_kind, mimeType: r.media_mime, size: Number(r.media_size) },
      version: r.message_version,
    },
    deleteAfter: r.delete_after_s === null ? null : isoDuration(r.delete_after_s),
    pin: r.pin_silent === null
      ? null
      : { silent: r.pin_silent, unpinAfter: r.unpin_after_s === null ? null : isoDuration(r.unpin_after_s) },
    actions: { edited: 0, deleted: 0, pinned: 0, unpinned: 0, pending: 0, failed: {}, ...r.action_counts },
    lastTest: r.last_test ? testSendDto(r.last_test) : null,
    ratePerMinute: r.rate_per_minute,
    maxErrors: r.max_errors,
    scheduledAt: iso(r.scheduled_at),
    counts: {
      total: r.total_count,
      pending: r.pending_count,
      sent: r.sent_count,
      failed: r.failed_count,
      unconfirmed: r.unconfirmed_count,
      cancelled: r.cancelled_count,
    },
    startedAt: iso(r.started_at),
    completedAt: iso(r.completed_at),
    createdAt: isoNN(r.created_at),
    updatedAt: isoNN(r.updated_at),
  }),
};

const deliveries: Listable<Delivery> = {
  table: 'deliveries',
  select: `t.id, t.campaign_id, t.channel_id, t.peer, t.state, t.attempts, t.error_code, t.error_message,
    t.telegram_message_id, t.next_attempt_at, t.sent_at, t.created_at, t.updated_at, ${latestActionsSql}`,
  toDto: (r: Row) => ({
    id: r.id,
    campaignId: r.campaign_id,
    channelId: r.channel_id,
    peer: r.peer,
    state: r.state,
    attempts: r.attempts,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    telegramMessageId: r.telegram_message_id,
    nextAttemptAt: iso(r.next_attempt_at),
    sentAt: iso(r.sent_at),
    createdAt: isoNN(r.created_at),
    updatedAt: isoNN(r.updated_at),
    actions: actionsDto(r.actions),
  }),
};

/** A campaign_test_sends row, from SQL or from to_jsonb (where bigints are numbers and times strings). */
function testSendDto(r: Row): TestSend {
  return {
    id: r.id,
    campaignId: r.campaign_id,
    peer: r.peer,
    channelId: r.channel_id,
    state: r.state,
    telegramMessageId: r.telegram_message_id === null ? null : String(r.telegram_message_id),
    errorCode: r.error_code,
    errorMessage: r.error_message,
    createdAt: isoNN(new Date(r.created_at)),
    sentAt: r.sent_at === null ? null : isoNN(new Date(r.sent_at)),
  };
}

async function campaignFrom(rows: Promise<Row[]>): Promise<Campaign> {
  const [row] = await rows;
  return campaignResource.toDto(row!);
}

/** How long POST /campaigns/{id}/test waits for the worker's answer (it gives up on the send at 60 s). */
const TEST_WAIT_MS = 20_000;
/** Reads of the test's row: soon at first (a free account answers within a few hundred ms), then less often. */
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 1_000;

/**
 * Reads the test's row until the worker has settled it, each read a short transaction of its
 * own: between reads the request holds no connection, so waiting tests never starve the pool.
 */
async function awaitTest(claims: UserClaims, queued: Row): Promise<TestSend> {
  const end = Date.now() + TEST_WAIT_MS;
  let row = queued;
  for (let delay = POLL_FIRST_MS; row.state === 'pending' && Date.now() < end; delay = Math.min(delay * 1.5, POLL_MAX_MS)) {
    await sleep(Math.min(delay, end - Date.now()));
    [row] = await asUser(claims, (tx) => tx`select * from public.campaign_test_sends where id = ${queued.id}`);
  }
  return testSendDto(row!);
}

const RPC_OF: Record<CampaignAction, string> = {
  start: 'start_campaign',
  pause: 'pause_campaign',
  resume: 'resume_campaign',
  cancel: 'cancel_campaign',
  'retry-failed': 'retry_failed_deliveries',
};

/** The RPC answers 404 for a campaign that is not the caller's and 409 for an illegal transition. */
const act = (action: CampaignAction) => ({ tx, params }: { tx: Tx; params: { id: string } }) =>
  campaignFrom(tx`select t.* from public.${tx(RPC_OF[action])}(${params.id}::uuid) t`);

const campaigns = defineFunction('campaigns', {
  listCampaigns: ({ tx, query }) =>
    listPage(tx, campaignResource, query, { where: query.state ? tx`and t.state = ${query.state}` : undefined }),
  createCampaign: async ({ tx, body: b }) => {
    const [created] = await tx`
    select t.* from public.create_campaign(
      p_name => ${b.name},
      p_channel_ids => ${uuidArray(b.channelIds)}::uuid[],
      p_batch_ids => ${uuidArray(b.batchIds)}::uuid[],
      p_template_id => ${b.templateId ?? null}::uuid,
      p_message => ${b.message ? tx.json(b.message) : null}::jsonb,
      p_variables => ${b.variables ? tx.json(b.variables) : null}::jsonb,
      p_account_id => ${b.accountId ?? null}::uuid,
      p_rate_per_minute => ${b.ratePerMinute ?? null}::integer,
      p_max_errors => ${b.maxErrors ?? null}::integer,
      p_scheduled_at => ${b.scheduledAt ?? null}::timestamptz) t`;
    const { post } = splitPostActions(b);
    return Object.keys(post).length ? campaignFrom(setPostActions(tx, created!.id, post)) : campaignResource.toDto(created!);
  },
  getCampaign: ({ tx, params }) => findOne(tx, campaignResource, params.id),
  // Absent keys stay, null clears; the RPCs decide what the campaign's state allows (409), in one transaction.
  updateCampaign: async ({ tx, params, body }) => {
    const { post, rest } = splitPostActions(body);
    const updated = Object.keys(rest).length
      ? tx`select t.* from public.update_campaign(${params.id}::uuid, ${tx.json(rest)}::jsonb) t`
      : undefined;
    if (!Object.keys(post).length) return campaignFrom(updated!);
    await updated;
    return campaignFrom(setPostActions(tx, params.id, post));
  },
  editCampaignMessage: ({ tx, params, body }) => campaignFrom(editMessage(tx, params.id, body)),
  deleteCampaignPosts: ({ tx, params }) => campaignFrom(postsRpc(tx, 'delete-posts', params.id)),
  pinCampaignPosts: ({ tx, params, body }) => campaignFrom(setPostActions(tx, params.id, { pin: body })),
  unpinCampaignPosts: ({ tx, params }) => campaignFrom(setPostActions(tx, params.id, { pin: null })),
  cancelPostActions: ({ tx, params }) => campaignFrom(postsRpc(tx, 'actions/cancel', params.id)),
  listDeliveries: async ({ tx, params, query }) => {
    await findOne(tx, campaignResource, params.id); // 404 before an empty page
    const where = tx`and t.campaign_id = ${params.id} ${query.state ? tx`and t.state = ${query.state}` : tx``}`;
    return listPage(tx, deliveries, query, { where, order: 'id' });
  },
  startCampaign: act('start'),
  pauseCampaign: act('pause'),
  resumeCampaign: act('resume'),
  cancelCampaign: act('cancel'),
  retryFailedDeliveries: act('retry-failed'),
  // The RPC decides (404, 409 during a FLOOD_WAIT, 422 for a channel not the caller's, 429 past the
  // caps on pending tests) on the request's own transaction; the wait starts once it is committed,
  // when the worker can see the test.
  testCampaign: async ({ tx, claims, params, body }) => {
    const [queued] = await tx`select t.* from public.test_campaign(${params.id}::uuid, ${body.channelId ?? null}::uuid) t`;
    return new AfterCommit(() => awaitTest(claims, queued!));
  },
  getCampaignReach: ({ tx, params, query }) => campaignReach(tx, params.id, query),
  refreshCampaignReach: ({ tx, params }) => refreshReach(tx, params.id),
  exportDeliveries: async ({ tx, claims, params }) => {
    await ownCampaign(tx, params.id);
    return new AfterCommit(async () => deliveriesCsv(claims, params.id));
  },
});

export default campaigns;
serveIfMain(import.meta.main, campaigns);
