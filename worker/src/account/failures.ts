// What a refused send does to its delivery (a retry, a failure, a wait) and to the account: a
// FLOOD_WAIT blocks its pacer until it ends, a stop by Telegram (revoked, PEER_FLOOD, frozen)
// until the owner resumes. Either sends the queued rows back unsent.
import type { Classified } from '../errors.ts';
import type * as db from '../db.ts';
import { outcomeOf } from '../outcomes.ts';
import { clock } from '../pacing.ts';
import type { Reachability } from '../reachability.ts';
import { type AccountContext, record } from './context.ts';

type Stop = Extract<Classified, { kind: 'account' }>;

export interface FailureHooks {
  /** Checks whether Telegram can be reached (false: it cannot, and the account waits). */
  reach(): Reachability;
  /** Every queued row goes back unsent. */
  releaseAll(): void;
}

export class Failures {
  readonly #ctx: AccountContext;
  readonly #hooks: FailureHooks;
  /** Deliveries answered "already in flight", and how many times. */
  readonly #duplicates = new Map<string, number>();
  #floodUntil = 0;
  /** When the status of the last stop Telegram caused was committed (null: not yet). */
  #stopRecordedAt: number | null = null;

  constructor(ctx: AccountContext, hooks: FailureHooks) {
    this.#ctx = ctx;
    this.#hooks = hooks;
  }

  /** May the account send (no FLOOD_WAIT under way)? */
  get floodOver(): boolean {
    return this.#floodUntil <= Date.now();
  }

  /** The delivery was sent: its earlier "in flight" answers no longer count. */
  sent(row: db.ClaimRow): void {
    this.#duplicates.delete(row.delivery_id);
  }

  /** The delivery's outcome for Telegram's answer `c`, and what the answer does to the account. */
  async failed(row: db.ClaimRow, c: Classified): Promise<void> {
    const { deps, queue } = this.#ctx;
    // An unknown outcome while Telegram cannot be reached is not an attempt: the delivery waits.
    const reachable = c.kind === 'transient' && c.unknown ? await this.#hooks.reach().check(`${c.code}: ${c.message}`) : true;
    const n = c.kind === 'in_flight' ? (this.#duplicates.get(row.delivery_id) ?? 0) + 1 : 0;
    if (n) this.#duplicates.set(row.delivery_id, n);
    const o = outcomeOf(c, { attempts: row.attempts, reachable, duplicates: n, config: deps.config });
    queue.settle(row.campaign_id, o.outcome === 'failed');
    this.stopping(c);
    if ('retryAt' in o) deps.wake(this.#ctx.id, Date.parse(o.retryAt));
    record(this.#ctx, row, o);
  }

  /** What Telegram's answer (to a send, or to an action on a post) does to the account. */
  stopping(c: Classified): void {
    if (c.kind === 'flood_wait') this.flood(Date.now() + c.seconds * 1000, c.seconds);
    if (c.kind === 'account' && this.#ctx.account.status !== 'account_stopped') this.#stopped(c);
  }

  /** FLOOD_WAIT until `until`: no sends, rows back, campaigns paused by the recorder (seconds given). */
  flood(until: number, seconds?: number): void {
    const { deps, id } = this.#ctx;
    if (until <= this.#floodUntil) return;
    this.#floodUntil = until;
    this.#ctx.pacer.block(until);
    if (this.#ctx.account.status === 'running') {
      this.#ctx.account.setStatus('flood_wait', `FLOOD_WAIT until ${new Date(until).toISOString()}`);
    }
    setTimeout(() => this.endFlood(), until - Date.now()).unref();
    if (seconds !== undefined) {
      deps.metrics.floodWaits.inc({ account: id });
      deps.recorder.event({ kind: 'flood', accountId: id, seconds });
      deps.log.warn({ accountId: id, seconds }, 'FLOOD_WAIT: campaigns paused until it ends');
    }
    this.#hooks.releaseAll();
  }

  /** A FLOOD_WAIT that ended: the account sends again. */
  endFlood(): void {
    if (this.#ctx.account.status !== 'flood_wait' || !this.floodOver) return;
    this.#ctx.account.setStatus('running');
    this.#ctx.deps.wake(this.#ctx.id);
  }

  /**
   * Records the status Telegram's answer gave the account (revoked, limited, frozen). Until it
   * is committed, a row read earlier still says 'active': that is not the owner's resume.
   */
  recordStop(c: Stop): void {
    this.#stopRecordedAt = null;
    const committed = () => void (this.#stopRecordedAt = clock());
    this.#ctx.deps.recorder.event({
      kind: 'status',
      accountId: this.#ctx.id,
      status: c.status,
      reason: `${c.code}: ${c.message}`,
      committed,
    });
  }

  /** The account's row, read at `readAt` after its stop was committed, says the owner resumed it. */
  resumed(row: db.AccountRow, readAt: number): boolean {
    return this.#stopRecordedAt !== null && readAt > this.#stopRecordedAt && row.status === 'active';
  }

  /** Telegram stopped the account while sending: no slots, rows back, campaigns paused. */
  #stopped(c: Stop): void {
    this.recordStop(c);
    this.#ctx.pacer.block(Number.POSITIVE_INFINITY);
    this.#ctx.account.setStatus(c.status === 'revoked' ? 'session_lost' : 'account_stopped', `${c.code}: ${c.message}`);
    this.#ctx.deps.log.error({ accountId: this.#ctx.id, status: c.status }, 'account stopped by Telegram; campaigns paused');
    this.#hooks.releaseAll();
  }
}
