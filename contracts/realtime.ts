// Live campaign progress for client apps: the event the database broadcasts on the private
// topic `campaign:<id>` (migration 20261128000500_realtime.sql builds it) and a watchCampaign()
// helper on supabase-js. Runs in Node, Deno and browsers: it only needs zod
// and a supabase-js client passed in (typed structurally, so this file pulls no supabase-js in).
import { z } from 'zod';
import { accountStatusSchema } from './api/accounts.ts';

export const CAMPAIGN_PROGRESS_EVENT = 'progress';

export const campaignStateSchema = z.enum(['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled']);
export const pauseReasonSchema = z.enum(['manual', 'flood_wait', 'error_threshold', 'account']);

/** One frame of progress. Every event is a full snapshot, so a dropped or repeated one is harmless. */
export const campaignProgressEventSchema = z.object({
  campaignId: z.uuid(),
  state: campaignStateSchema,
  pauseReason: pauseReasonSchema.nullable(),
  /** When a FLOOD_WAIT pause ends (the campaign resumes by itself then). */
  resumeAt: z.iso.datetime({ offset: true }).nullable(),
  total: z.number().int().nonnegative(),
  pending: z.number().int().nonnegative(),
  sent: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** Deliveries whose last attempt's outcome is unknown (a timeout): never counted as failed. */
  unconfirmed: z.number().int().nonnegative(),
  cancelled: z.number().int().nonnegative(),
  /**
   * Actions on the sent posts: edited, deleted, pinned, unpinned, pending, and failed per kind and
   * Telegram error ({} until the first action).
   */
  actions: z.object({
    edited: z.number().int().nonnegative(),
    deleted: z.number().int().nonnegative(),
    pinned: z.number().int().nonnegative(),
    unpinned: z.number().int().nonnegative(),
    pending: z.number().int().nonnegative(),
    failed: z.record(z.string(), z.record(z.string(), z.number().int())),
  }).partial().optional(),
  /** When the database produced the event. */
  at: z.iso.datetime({ offset: true }),
});
export type CampaignProgressEvent = z.infer<typeof campaignProgressEventSchema>;

/**
 * A sampling round of the campaign's posts finished (event `reach` on the same topic): the
 * campaign's totals then, every post's latest figures (GET /campaigns/{id}/reach has the rest).
 */
export const CAMPAIGN_REACH_EVENT = 'reach';
export const campaignReachEventSchema = z.object({
  campaignId: z.uuid(),
  round: z.enum(['1h', '6h', '24h', '72h', 'refresh']),
  takenAt: z.iso.datetime({ offset: true }),
  posts: z.number().int().nonnegative(),
  views: z.number().int().nonnegative(),
  forwards: z.number().int().nonnegative(),
  replies: z.number().int().nonnegative(),
  reactions: z.number().int().nonnegative(),
});
export type CampaignReachEvent = z.infer<typeof campaignReachEventSchema>;

export function campaignTopic(campaignId: string): string {
  return `campaign:${campaignId}`;
}

/** An account's sign-in changes: event `login` on the private topic `account:<id>`, payload `{ accountId, login }`. */
export const ACCOUNT_LOGIN_EVENT = 'login';
/**
 * An account's status changes, on the same topic: event `status`, payload `{ accountId, status,
 * statusReason, floodWaitUntil }` (status as in contracts/api/accounts.ts).
 */
export const ACCOUNT_STATUS_EVENT = 'status';
export const accountStatusEventSchema = z.object({
  accountId: z.uuid(),
  status: accountStatusSchema,
  statusReason: z.string().nullable(),
  floodWaitUntil: z.iso.datetime({ offset: true }).nullable(),
});
export type AccountStatusEvent = z.infer<typeof accountStatusEventSchema>;
export function accountTopic(accountId: string): string {
  return `account:${accountId}`;
}

/** Terminal states: no more events will follow. */
export function isFinished(e: { state: string }): boolean {
  return e.state === 'completed' || e.state === 'cancelled';
}

/** A public.campaigns row (e.g. as Postgres Changes delivers it) as a progress event. */
export function progressFromCampaignRow(row: Record<string, unknown>): CampaignProgressEvent {
  const ts = (v: unknown) => (v == null ? null : new Date(String(v)).toISOString());
  return campaignProgressEventSchema.parse({
    campaignId: row.id,
    state: row.state,
    pauseReason: row.pause_reason ?? null,
    resumeAt: ts(row.resume_at),
    total: row.total_count,
    pending: row.pending_count,
    sent: row.sent_count,
    failed: row.failed_count,
    unconfirmed: row.unconfirmed_count ?? 0,
    cancelled: row.cancelled_count,
    actions: row.action_counts ?? undefined,
    at: ts(row.updated_at) ?? new Date().toISOString(),
  });
}

// The slice of supabase-js this helper uses; a SupabaseClient satisfies it.
export interface RealtimeChannelLike {
  on(type: string, filter: Record<string, unknown>, callback: (payload: any) => void): RealtimeChannelLike;
  subscribe(callback?: (status: string, err?: Error) => void): unknown;
}
export interface RealtimeChannelOptionsLike {
  config?: { private?: boolean; broadcast?: { replay?: { since: number; limit?: number } } };
}
export interface RealtimeClientLike {
  channel(name: string, opts?: RealtimeChannelOptionsLike): RealtimeChannelLike;
  removeChannel(channel: any): Promise<unknown>;
  /** supabase-js: setAuth() loads the session's (or accessToken option's) JWT into Realtime. */
  realtime?: { setAuth(token?: string | null): Promise<void> };
}

/** How far back a join looks for the latest event (hosted Realtime keeps stored messages a few days). */
export const REPLAY_WINDOW_MS = 3 * 24 * 3600 * 1000;

export interface WatchOptions {
  /**
   * Channel status: SUBSCRIBED, CHANNEL_ERROR (e.g. not the owner, an expired token: err says
   * why), TIMED_OUT, CLOSED. supabase-js rejoins by itself after a dropped socket.
   */
  onStatus?: (status: string, err?: Error) => void;
  /** Payloads that failed validation (a newer server, a bug); ignored otherwise. */
  onInvalid?: (payload: unknown, error: unknown) => void;
  /**
   * Replay the latest stored event when joining (Realtime's broadcast replay), so a late
   * subscriber sees the current state at once rather than at the next change. Default true.
   */
  replay?: boolean;
}

export interface CampaignWatch {
  unsubscribe(): Promise<void>;
}

/**
 * Calls onEvent with each progress event of one campaign the signed-in user owns, from the
 * private broadcast topic `campaign:<id>`, starting with the latest one already sent. The
 * user's JWT must be on the client (a supabase-js session, the `accessToken` option, or
 * `supabase.realtime.setAuth(token)`): Realtime lets the user join only if the policy on
 * realtime.messages allows it (owners only).
 *
 *   const watch = watchCampaign(supabase, id, (e) => render(e), { onStatus: (s, err) => ... });
 *   ... await watch.unsubscribe();
 */
export function watchCampaign(
  supabase: RealtimeClientLike,
  campaignId: string,
  onEvent: (event: CampaignProgressEvent) => void,
  opts: WatchOptions = {},
): CampaignWatch {
  let closed = false;
  let lastAt = -Infinity;
  const replay = opts.replay === false ? undefined : { since: Date.now() - REPLAY_WINDOW_MS, limit: 1 };
  const open = () =>
    supabase
      .channel(campaignTopic(campaignId), { config: { private: true, ...(replay && { broadcast: { replay } }) } })
      .on('broadcast', { event: CAMPAIGN_PROGRESS_EVENT }, (msg: { payload?: unknown }) => {
        if (closed) return;
        let event: CampaignProgressEvent;
        try {
          event = campaignProgressEventSchema.parse(msg.payload);
        } catch (err) {
          opts.onInvalid?.(msg.payload, err);
          return;
        }
        // Every event is a full snapshot: one older than the last shown (a replay racing a live
        // event, a rejoin) would only move the display backwards.
        const at = Date.parse(event.at);
        if (at < lastAt) return;
        lastAt = at;
        onEvent(event);
      });
  // The join must carry the user's JWT (else Realtime judges the anon key and refuses): load it
  // first, as Supabase's Realtime Authorization guide does.
  const channel = Promise.resolve(supabase.realtime?.setAuth()).catch(() => {}).then(() => {
    const ch = open();
    if (!closed) {
      ch.subscribe((status, err) => {
        if (!closed) opts.onStatus?.(status, err);
      });
    }
    return ch;
  });
  return {
    async unsubscribe() {
      closed = true;
      await supabase.removeChannel(await channel);
    },
  };
}
