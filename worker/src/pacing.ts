// Pacing of one Telegram account. A token bucket of depth one on a virtual schedule (slots
// every 60/rate seconds, so timer lateness does not slow the average), plus a guard over the
// last `rate per second` real send times so no 1-second window ever holds more than the rate.
// An optional per-campaign cap works the same way per campaign. Callers are served strictly in
// arrival order; with one handler per campaign that alternates campaigns (round-robin).

export type Grant = { ok: true } | { ok: false; retryAt: number; blocked: boolean };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Sub-millisecond epoch clock: with Date.now()'s whole milliseconds, every grant at rates above
// 1,000/min that fell in the same millisecond waited out a >= 1 ms timer (benchmark: ~550/s cap).
const clock = () => performance.timeOrigin + performance.now();
const GUARD_MAX = 100;
/** Extra spacing of the window guard: what Telegram sees also carries the network's jitter. */
const GUARD_MARGIN_MS = 5;

export class AccountPacer {
  #intervalMs = 0;
  #next = 0;
  #recent: number[] = [];
  #guardN = 1;
  #campaigns = new Map<string, number>();
  #tail: Promise<unknown> = Promise.resolve();
  #blockedUntil = 0;

  constructor(ratePerMinute: number) {
    this.setRate(ratePerMinute);
  }

  setRate(ratePerMinute: number): void {
    this.#intervalMs = 60_000 / ratePerMinute;
    this.#guardN = Math.max(1, Math.floor(ratePerMinute / 60));
  }

  get ratePerMinute(): number {
    return 60_000 / this.#intervalMs;
  }

  /** No grants until `until` (FLOOD_WAIT; Infinity for a stopped account). */
  block(until: number): void {
    this.#blockedUntil = Math.max(this.#blockedUntil, until);
  }

  /** Lifts every block (an account stopped for PEER_FLOOD is active again); FLOOD_WAIT is re-applied by the caller. */
  unblock(): void {
    this.#blockedUntil = 0;
  }

  get blockedUntil(): number {
    return this.#blockedUntil > clock() ? this.#blockedUntil : 0;
  }

  /** Milliseconds until the account could send again (0 = now). */
  readyIn(): number {
    return Math.max(0, this.#slot(null, null) - clock());
  }

  #slot(campaignId: string | null, campaignIntervalMs: number | null): number {
    let t = Math.max(clock(), this.#next);
    if (this.#guardN <= GUARD_MAX && this.#recent.length >= this.#guardN) {
      t = Math.max(t, this.#recent[this.#recent.length - this.#guardN]! + this.#guardN * this.#intervalMs + GUARD_MARGIN_MS);
    }
    if (campaignId && campaignIntervalMs) t = Math.max(t, this.#campaigns.get(campaignId) ?? 0);
    return t;
  }

  /**
   * Waits for the next send slot of the account (and of the campaign, when capped). Gives up
   * without taking a slot if the slot comes after `deadline` or the account is blocked.
   */
  acquire(campaignId: string, campaignRatePerMinute: number | null, deadline: number): Promise<Grant> {
    const run = async (): Promise<Grant> => {
      const cInterval = campaignRatePerMinute ? 60_000 / campaignRatePerMinute : null;
      for (;;) {
        if (this.#blockedUntil > clock()) return { ok: false, retryAt: this.#blockedUntil, blocked: true };
        const slot = this.#slot(campaignId, cInterval);
        if (slot > deadline) return { ok: false, retryAt: slot, blocked: false };
        const wait = slot - clock();
        if (wait <= 0) {
          const now = clock();
          // On schedule: the next slot follows this one's (lateness is not carried over); after
          // idling: one interval from now (no burst of saved-up tokens).
          this.#next = now - this.#next < this.#intervalMs ? this.#next + this.#intervalMs : now + this.#intervalMs;
          if (this.#guardN <= GUARD_MAX) {
            this.#recent.push(now);
            if (this.#recent.length > this.#guardN) this.#recent.shift();
          }
          if (cInterval) this.#campaigns.set(campaignId, Math.max(this.#campaigns.get(campaignId) ?? 0, now) + cInterval);
          return { ok: true };
        }
        // A timer sleeps 1 ms at least: with several sends queued at high rates every grant would
        // wait one out (ceiling ÷3). Sub-millisecond waits yield to I/O until the slot comes.
        await (wait < 1 ? new Promise((r) => setImmediate(r)) : sleep(wait));
      }
    };
    const p = this.#tail.then(run, run);
    this.#tail = p;
    return p;
  }
}

/** Interleaves rows of different campaigns (a, b, c, a, b, c, ...) keeping each campaign's order. */
export function roundRobin<T>(rows: T[], key: (row: T) => string): T[] {
  const queues = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const q = queues.get(k);
    if (q) q.push(r);
    else queues.set(k, [r]);
  }
  const out: T[] = [];
  const lists = [...queues.values()];
  for (let i = 0; out.length < rows.length; i++) for (const q of lists) if (i < q.length) out.push(q[i]!);
  return out;
}
