// The actions on sent posts an account holds (claimed, waiting for a slot of its pace) as a kind
// of paced work (account/paced-loop.ts), and running one: the post's peer, the Telegram call under
// the send timeout, its outcome to the recorder. Actions take every other slot while deliveries
// wait too, so neither waits for the other to finish; a FLOOD_WAIT or an account stopped by
// Telegram goes to the account's failures, as a send's answer would. An action starts only while
// its campaign is cleared, as a send does (clearance.ts): a pause or cancel that answered stops it.
import type { AccountContext } from '../account/context.ts';
import type { NotYet, PacedPiece, PacedWork } from '../account/paced-loop.ts';
import type * as db from '../db.ts';
import { type Classified, classify, withTimeout } from '../errors.ts';
import type { ResolvedPeer } from '../gateway/types.ts';
import { actionOutcome, perform } from './perform.ts';
import type { ActionOutcome, ActionRow } from './store.ts';

/** The pacer's key for actions: they take the account's slots, never a campaign's cap. */
export const ACTION_SLOT = 'actions';

type ActionResult = Omit<ActionOutcome, 'actionId' | 'jobId' | 'accountId'>;

/** worker_clearance on actions: campaigns whose actions may start, those paused, actions no longer pending. */
export interface ActionVerdicts {
  acting: ReadonlySet<string>;
  paused: ReadonlySet<string>;
  over: ReadonlySet<string>;
}

export interface ActionHooks {
  /** The post's chat as this account knows it (resolved once if need be). */
  peerOf(row: ActionRow): Promise<ResolvedPeer>;
  /** Telegram answered FLOOD_WAIT or stopped the account: the account acts as after a send. */
  stopping(c: Classified): void;
}

export class AccountActions implements PacedWork {
  readonly #ctx: AccountContext;
  readonly #hooks: ActionHooks;
  #rows: ActionRow[] = [];
  /** Per campaign of the held rows: its actions may start until then (clock()); absent: not cleared. */
  #clearedUntil = new Map<string, number>();
  /** Whether an action takes the next slot that has come (else the other kinds have it first). */
  #turn = true;

  constructor(ctx: AccountContext, hooks: ActionHooks) {
    this.#ctx = ctx;
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#rows.length;
  }

  /** Claimed rows: skips are recorded at once, the others wait for a slot (and their campaign's clearance). */
  add(row: ActionRow): void {
    if (row.action === 'skip') return this.#record(row, { outcome: 'skip' });
    this.#rows.push(row);
    if (!this.#clearedUntil.has(row.campaign_id)) this.#ctx.deps.uncleared();
  }

  /** Campaigns of the held rows, and the rows' action ids: what the clearance is asked about. */
  campaigns(): string[] {
    return [...new Set(this.#rows.map((r) => r.campaign_id))];
  }

  ids(): string[] {
    return this.#rows.map((r) => r.action_id);
  }

  next(now: number): PacedPiece | NotYet {
    if (!this.#rows.length) return { at: Number.POSITIVE_INFINITY, empty: true };
    const i = this.#rows.findIndex((r) => (this.#clearedUntil.get(r.campaign_id) ?? 0) > now);
    // None cleared: the next clearance pumps again.
    if (i < 0) return { at: Number.POSITIVE_INFINITY, empty: false };
    const at = this.#ctx.pacer.slotAt(ACTION_SLOT, null);
    if (at > now) return { at, empty: false };
    this.#turn = !this.#turn;
    // Not its turn: this slot goes to the next kind; asked again, the action has it.
    if (this.#turn) return { at: now, empty: false };
    const [row] = this.#rows.splice(i, 1);
    return { slot: ACTION_SLOT, rate: null, run: () => this.#run(row!) };
  }

  /**
   * worker_clearance's verdicts: actions no longer pending are dropped unrun, those of a paused
   * campaign go back, those of a cleared one may start until `until`; a stop under way: they wait.
   */
  clearance(v: ActionVerdicts, until: number): void {
    const held = this.#rows.splice(0);
    for (const row of held) {
      if (v.over.has(row.action_id)) this.#record(row, { outcome: 'skip' });
      else if (v.paused.has(row.campaign_id)) this.#record(row, { outcome: 'deferred' });
      else this.#rows.push(row);
    }
    this.#clearedUntil = new Map(this.campaigns().map((id) => [id, v.acting.has(id) ? until : 0]));
  }

  /** The campaign stopped running: none of its actions starts before the next clearance says so. */
  campaignStopped(campaignId: string): void {
    if (this.#clearedUntil.has(campaignId)) this.#clearedUntil.set(campaignId, 0);
  }

  /** Every held action goes back unattempted (the account stops or waits). */
  releaseAll(): void {
    for (const row of this.#rows.splice(0)) this.#record(row, { outcome: 'deferred' });
    this.#clearedUntil.clear();
  }

  async #run(row: ActionRow): Promise<void> {
    const { config } = this.#ctx.deps;
    try {
      const peer = await this.#hooks.peerOf(row);
      await withTimeout(perform(this.#ctx, row, peer), config.sendTimeoutMs, row.action);
      this.#record(row, { outcome: 'done' });
    } catch (err) {
      const c = classify(err);
      if (c.kind === 'flood_wait' || c.kind === 'account') this.#hooks.stopping(c);
      this.#record(row, actionOutcome(c, row.attempts, config));
    }
  }

  #record(row: ActionRow, result: ActionResult): void {
    const { deps, id } = this.#ctx;
    deps.metrics.outcomes.inc({ account: id, outcome: `action_${result.outcome}` });
    if (result.retryAt) deps.wake(id, Date.parse(result.retryAt));
    deps.recorder.add({
      ...result,
      deliveryId: row.delivery_id,
      jobId: row.job_id,
      accountId: id,
      campaignId: row.campaign_id,
      actionId: row.action_id,
      ...(row.media_path && this.#ctx.media.takeUnstored(row)),
    } as db.Outcome);
  }
}
