// Live campaign progress for client apps (DESIGN §8): the event the database broadcasts on the
// private topic `campaign:<id>` (migration 20261128000500_realtime.sql builds it) and a
// watchCampaign() helper on supabase-js. Runs in Node, Deno and browsers: it only needs zod
// and a supabase-js client passed in (typed structurally, so this file pulls no supabase-js in).
import { z } from 'zod';

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
  cancelled: z.number().int().nonnegative(),
  /** When the database produced the event. */
  at: z.iso.datetime({ offset: true }),
});
export type CampaignProgressEvent = z.infer<typeof campaignProgressEventSchema>;

export function campaignTopic(campaignId: string): string {
  return `campaign:${campaignId}`;
}

/** Terminal states: no more events will follow. */
export function isFinished(e: Pick<CampaignProgressEvent, 'state'>): boolean {
  return e.state === 'completed' || e.state === 'cancelled';
}

/** A public.campaigns row (as Postgres Changes delivers it) as a progress event. */
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
    cancelled: row.cancelled_count,
    at: ts(row.updated_at) ?? new Date().toISOString(),
  });
}

// The slice of supabase-js this helper uses; a SupabaseClient satisfies it.
export interface RealtimeChannelLike {
  on(type: string, filter: Record<string, unknown>, callback: (payload: any) => void): RealtimeChannelLike;
  subscribe(callback?: (status: string, err?: Error) => void): unknown;
}
export interface RealtimeClientLike {
  channel(name: string, opts?: { config?: { private?: boolean } }): RealtimeChannelLike;
  removeChannel(channel: any): Promise<unknown>;
}

export type WatchMode = 'broadcast' | 'postgres_changes';

export interface WatchOptions {
  /**
   * 'auto' (default): the private broadcast topic, switching to Postgres Changes if the channel
   * cannot be joined (e.g. private channels not enabled, no session). Or force one path.
   */
  mode?: 'auto' | WatchMode;
  /** Channel status changes, for UIs that show "live"/"reconnecting" (and which path is used). */
  onStatus?: (status: string, mode: WatchMode, err?: Error) => void;
  /** Payloads that failed validation (a newer server, a bug); ignored otherwise. */
  onInvalid?: (payload: unknown, error: unknown) => void;
}

export interface CampaignWatch {
  readonly mode: WatchMode;
  unsubscribe(): Promise<void>;
}

/**
 * Calls onEvent with each progress event of one campaign the signed-in user owns.
 * The user's JWT must be on the client (a supabase-js session, or
 * `supabase.realtime.setAuth(token)`), because both paths are authorized by RLS.
 *
 *   const watch = watchCampaign(supabase, id, (e) => render(e));
 *   ... await watch.unsubscribe();
 */
export function watchCampaign(
  supabase: RealtimeClientLike,
  campaignId: string,
  onEvent: (event: CampaignProgressEvent) => void,
  opts: WatchOptions = {},
): CampaignWatch {
  const requested = opts.mode ?? 'auto';
  let current: RealtimeChannelLike | undefined;
  let mode: WatchMode = requested === 'postgres_changes' ? 'postgres_changes' : 'broadcast';
  let closed = false;

  const deliver = (raw: unknown, parse: (raw: unknown) => CampaignProgressEvent) => {
    if (closed) return;
    let event: CampaignProgressEvent;
    try {
      event = parse(raw);
    } catch (err) {
      opts.onInvalid?.(raw, err);
      return;
    }
    onEvent(event);
  };

  const open = (m: WatchMode) => {
    mode = m;
    if (m === 'broadcast') {
      current = supabase
        .channel(campaignTopic(campaignId), { config: { private: true } })
        .on('broadcast', { event: CAMPAIGN_PROGRESS_EVENT }, (msg: { payload?: unknown }) =>
          deliver(msg.payload, (p) => campaignProgressEventSchema.parse(p)));
    } else {
      // A different channel name: Postgres Changes needs no private topic, RLS on campaigns filters.
      current = supabase
        .channel(`campaign-changes:${campaignId}`)
        .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'campaigns', filter: `id=eq.${campaignId}` },
          (msg: { new?: Record<string, unknown> }) => deliver(msg.new, (row) => progressFromCampaignRow(row as Record<string, unknown>)));
    }
    const ch = current;
    ch.subscribe((status, err) => {
      if (closed || ch !== current) return;
      opts.onStatus?.(status, m, err);
      if (requested === 'auto' && m === 'broadcast' && (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT')) {
        void supabase.removeChannel(ch);
        open('postgres_changes');
      }
    });
  };

  open(mode);
  return {
    get mode() { return mode; },
    async unsubscribe() {
      closed = true;
      if (current) await supabase.removeChannel(current);
    },
  };
}
