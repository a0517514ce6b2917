// The deliveries claimed for one account: queued per campaign until their slot, offered to the
// paced loop round-robin between campaigns, sent back unsent when their campaign stops, and
// refilled by the fetch loop when they run low.
import { isFinished } from '../../../contracts/realtime.ts';
import type * as db from '../db.ts';
import { clock } from '../pacing.ts';
import { type AccountContext, record } from './context.ts';
import type { NotYet, PacedPiece, PacedWork } from './paced-loop.ts';
import type { AccountPeers } from './peers.ts';

/** A campaign as worker_clearance saw it: cleared, a pause or cancel under way, or not running. */
export type Verdict = 'running' | 'stopping' | 'stopped';

/** Rows to keep claimed ahead of the pacer (about lookaheadSeconds of sending), and when to refill. */
export function bufferTarget(ratePerMinute: number, lookaheadSeconds: number): { target: number; low: number } {
  const target = Math.max(2, Math.ceil((ratePerMinute / 60) * lookaheadSeconds));
  return { target, low: Math.ceil(target / 2) };
}

export interface DeliveryHooks {
  /** Sends one delivery whose slot has come. */
  send(row: db.ClaimRow): Promise<void>;
  /** Starts a test send (it books its own slot). */
  test(row: db.ClaimRow): void;
}

export class Deliveries implements PacedWork {
  readonly #ctx: AccountContext;
  readonly #peers: AccountPeers;
  readonly #hooks: DeliveryHooks;

  constructor(ctx: AccountContext, peers: AccountPeers, hooks: DeliveryHooks) {
    this.#ctx = ctx;
    this.#peers = peers;
    this.#hooks = hooks;
  }

  /** Rows the fetch loop claimed: skips are recorded, tests started, sends queued (their peers looked up). */
  enqueue(rows: db.ClaimRow[]): void {
    const { queue, deps } = this.#ctx;
    for (const r of rows) {
      if (r.action === 'skip') record(this.#ctx, r, { outcome: 'skip' });
      else if (r.action === 'test') this.#hooks.test(r);
      else queue.add(r);
    }
    for (const r of rows) if (r.action === 'send' && this.#peers.needs(r)) this.#peers.prepare(r);
    if (rows.some((r) => r.action === 'send' && !queue.cleared(r.campaign_id, clock()))) deps.uncleared();
  }

  /** The next delivery whose slot has come; one whose peer is not known yet waits for its lookup. */
  next(now: number): PacedPiece | NotYet {
    const { queue, pacer } = this.#ctx;
    const p = queue.pick((c, rate) => pacer.slotAt(c, rate), now);
    if (!p.row) return { at: p.at, empty: !queue.size };
    const row = p.row;
    if (this.#peers.needs(row)) {
      // Back to the head of its campaign until its peer is known (the lookup pumps again).
      queue.putBack(row);
      this.#peers.prepare(row);
      return { at: Number.POSITIVE_INFINITY, empty: false };
    }
    return { slot: row.campaign_id, rate: p.rate, run: () => this.#hooks.send(row) };
  }

  /** Rows of campaigns that reached their error threshold go back unsent. */
  dropExhausted(): void {
    this.#defer(this.#ctx.queue.takeExhausted());
  }

  /** Asks the fetch loop for more when fewer rows than half the buffer's target wait. */
  askIfLow(): void {
    const { queue, pacer, deps, id } = this.#ctx;
    if (queue.size < bufferTarget(pacer.ratePerMinute, deps.config.lookaheadSeconds).low) deps.hungry(id);
  }

  /** The recorder committed these campaigns' states: rows of one that stopped running go back. */
  campaignStates(states: db.CampaignState[]): void {
    for (const c of states) {
      if (c.state === 'running') continue;
      const over = isFinished(c);
      this.#defer(this.#ctx.queue.takeCampaign(c.id, over));
      if (!over) continue;
      this.#ctx.pacer.forget(c.id);
      this.#ctx.media.forget(c.id);
    }
  }

  /** worker_clearance's verdicts: a running campaign may start sends until `until`, a stopped one's rows go back. */
  clearance(verdicts: ReadonlyMap<string, Verdict>, until: number): void {
    for (const id of this.#ctx.queue.active()) {
      const v = verdicts.get(id);
      if (v === 'stopped') this.campaignStopped(id);
      else if (v) this.#ctx.queue.clear(id, v === 'running' ? until : 0);
    }
  }

  campaignStopped(campaignId: string): void {
    this.#defer(this.#ctx.queue.takeCampaign(campaignId, false));
  }

  releaseAll(): void {
    this.#defer(this.#ctx.queue.takeAll());
  }

  #defer(rows: db.ClaimRow[]): void {
    for (const r of rows) record(this.#ctx, r, { outcome: 'deferred' });
  }
}
