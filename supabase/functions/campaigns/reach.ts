// A campaign's reach (what the worker sampled of its posts' views) and its deliveries as CSV.
// The CSV is streamed: pages of EXPORT_PAGE rows by delivery id, each read in a transaction of
// its own when the client has taken the previous one, so a 100,000-target campaign exports with
// one page in memory and no connection held while the client reads.
import type { CampaignReach, ChannelReach } from '../../../contracts/api/reach.ts';
import { DELIVERIES_CSV_COLUMNS } from '../../../contracts/api/reach.ts';
import type { UserClaims } from '../_shared/auth.ts';
import { iso, isoNN, type Listable, listPage, type PageRequest } from '../_shared/crud.ts';
import { asUser, type Row, type Tx } from '../_shared/db.ts';
import { notFound } from '../_shared/errors.ts';

/** Rounds drawn on the chart: the latest this many. */
const HISTORY_POINTS = 500;
/** Deliveries per read of the CSV export. */
export const EXPORT_PAGE = 1000;

const channelReach: Listable<ChannelReach> = {
  table: 'deliveries',
  from: 'public.deliveries t left join public.delivery_reach r on r.delivery_id = t.id',
  select: `t.id, t.channel_id, t.peer, t.telegram_message_id, t.sent_at, t.created_at, r.views, r.forwards,
    r.replies, r.reactions, r.taken_at, r.samples, r.error_code`,
  toDto: (r: Row) => ({
    deliveryId: r.id,
    channelId: r.channel_id,
    peer: r.peer,
    telegramMessageId: String(r.telegram_message_id),
    sentAt: isoNN(r.sent_at),
    views: r.views,
    forwards: r.forwards,
    replies: r.replies,
    reactions: r.reactions,
    sampledAt: iso(r.taken_at),
    samples: r.samples ?? 0,
    errorCode: r.error_code,
  }),
};

const count = (v: unknown) => Number(v ?? 0);

/** 404 unless the campaign is the caller's (RLS: another user's is not there). */
export async function ownCampaign(tx: Tx, id: string): Promise<void> {
  const [c] = await tx`select 1 from public.campaigns where id = ${id}`;
  if (!c) throw notFound('campaign');
}

/** Totals, their history per round, and a page of the sent posts with their latest figures. */
export async function campaignReach(tx: Tx, id: string, page: PageRequest): Promise<CampaignReach> {
  await ownCampaign(tx, id);
  const [t] = await tx`
    select (select count(*) from public.deliveries where campaign_id = ${id} and state = 'sent') as sent,
      count(*) as sampled, sum(views) as views, sum(forwards) as forwards, sum(replies) as replies,
      sum(reactions) as reactions, max(taken_at) as last
    from public.delivery_reach where campaign_id = ${id}`;
  const history = await tx`
    select * from (select * from public.reach_rounds where campaign_id = ${id}
      order by taken_at desc limit ${HISTORY_POINTS}) h order by taken_at`;
  const where = tx`and t.campaign_id = ${id} and t.state = 'sent'`;
  return {
    campaignId: id,
    totals: {
      sent: count(t!.sent),
      sampled: count(t!.sampled),
      views: count(t!.views),
      forwards: count(t!.forwards),
      replies: count(t!.replies),
      reactions: count(t!.reactions),
      lastSampledAt: iso(t!.last),
    },
    history: history.map((h) => ({
      round: h.round,
      takenAt: isoNN(h.taken_at),
      posts: h.posts,
      views: Number(h.views),
      forwards: Number(h.forwards),
      replies: Number(h.replies),
      reactions: Number(h.reactions),
    })),
    channels: await listPage(tx, channelReach, page, { where, order: 'id' }),
  };
}

/** The owner asks for a round now; 404, 409 without an account, 429 past the hourly quota. */
export async function refreshReach(tx: Tx, id: string): Promise<{ campaignId: string; queued: true }> {
  const [r] = await tx`select public.refresh_campaign_reach(${id}::uuid) as r`;
  return r!.r;
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const csvLine = (values: unknown[]) => values.map(csvField).join(',') + '\r\n';

async function exportPage(claims: UserClaims, id: string, after: string | null): Promise<Row[]> {
  return await asUser(claims, (tx) =>
    tx`
    select d.id, d.channel_id, d.peer, d.state, d.attempts, d.error_code, d.error_message,
      d.telegram_message_id, d.sent_at, d.updated_at, r.views, r.forwards, r.replies, r.taken_at, r.reactions
    from public.deliveries d left join public.delivery_reach r on r.delivery_id = d.id
    where d.campaign_id = ${id} ${after ? tx`and d.id > ${after}::uuid` : tx``}
    order by d.id limit ${EXPORT_PAGE}`);
}

/** The campaign's deliveries as CSV, a page at a time as the client reads (the campaign checked by the caller). */
export function deliveriesCsv(claims: UserClaims, id: string): Response {
  let after: string | null = null;
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(csvLine([...DELIVERIES_CSV_COLUMNS])));
    },
    async pull(controller) {
      const rows = await exportPage(claims, id, after);
      const text = rows.map((d) =>
        csvLine([
          d.id,
          d.channel_id,
          d.peer,
          d.state,
          d.attempts,
          d.error_code,
          d.error_message,
          d.telegram_message_id,
          d.sent_at,
          d.updated_at,
          d.views,
          d.forwards,
          d.replies,
          d.taken_at,
          d.reactions,
        ])
      ).join('');
      if (text) controller.enqueue(encoder.encode(text));
      after = rows.at(-1)?.id ?? after;
      if (rows.length < EXPORT_PAGE) controller.close();
    },
  }, { highWaterMark: 1 });
  return new Response(body, {
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="campaign-${id}-deliveries.csv"`,
    },
  });
}
