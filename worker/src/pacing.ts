// Pacing of one Telegram account. A token bucket of depth one on a virtual schedule (slots
// every 60/rate seconds, so timer lateness does not slow the average), plus a guard over the
// last `rate per second` real send times so no 1-second window ever holds more than the rate.
// An optional per-campaign cap works the same way per campaign. The pacer never waits itself:
// the account's sender asks when the next slot is (slotAt), sleeps until then, and takes it.

// Sub-millisecond epoch clock: with Date.now()'s whole milliseconds, every grant at rates above
// 1,000/min that fell in the same millisecond waited out a >= 1 ms timer.
export const clock = (): number => performance.timeOrigin + performance.now();
const GUARD_MAX = 100;
/** Extra spacing of the window guard: what Telegram sees also carries the network's jitter. */
const GUARD_MARGIN_MS = 5;
/** Lateness made up after a busy moment (the 1-second guard still caps the catch-up). */
const CATCH_UP_MS = 1000;

export class AccountPacer {
  #intervalMs = 0;
  #next = 0;
  #recent: number[] = [];
  #guardN = 1;
  #campaigns = new Map<string, number>();
  #blockedUntil = 0;
  readonly #now: () => number;

  /** `now` is the epoch clock in ms (tests drive it by hand). */
  constructor(ratePerMinute: number, now: () => number = clock) {
    this.#now = now;
    this.setRate(ratePerMinute);
  }

  setRate(ratePerMinute: number): void {
    this.#intervalMs = 60_000 / ratePerMinute;
    this.#guardN = Math.max(1, Math.floor(ratePerMinute / 60));
  }

  get ratePerMinute(): number {
    return 60_000 / this.#intervalMs;
  }

  /** No slots until `until` (FLOOD_WAIT; Infinity for a stopped account). */
  block(until: number): void {
    this.#blockedUntil = Math.max(this.#blockedUntil, until);
  }

  /** Lifts every block (an account stopped for PEER_FLOOD is active again). */
  unblock(): void {
    this.#blockedUntil = 0;
  }

  get blockedUntil(): number {
    return this.#blockedUntil > this.#now() ? this.#blockedUntil : 0;
  }

  /** When the account (and the campaign, when capped at campaignRatePerMinute) may send next. */
  slotAt(campaignId: string, campaignRatePerMinute: number | null): number {
    let t = Math.max(this.#now(), this.#next, this.#blockedUntil);
    if (this.#guardN <= GUARD_MAX && this.#recent.length >= this.#guardN) {
      t = Math.max(t, this.#recent[this.#recent.length - this.#guardN]! + this.#guardN * this.#intervalMs + GUARD_MARGIN_MS);
    }
    if (campaignRatePerMinute) t = Math.max(t, this.#campaigns.get(campaignId) ?? 0);
    return t;
  }

  /**
   * Takes the slot; call when slotAt(...) has come, or with `at` = a later slotAt(...) to book
   * that slot ahead (the caller then sends at `at`). backlogged: sends were waiting all along,
   * so a late slot is the machine's delay, not idleness. Returns the time the slot was taken at
   * (what the 1-second guard counts).
   */
  take(campaignId: string, campaignRatePerMinute: number | null, backlogged = false, at = this.#now()): number {
    const now = at;
    // On schedule, or late while sends were waiting: the next slot follows this one's, so a
    // stalled event loop does not slow the average; after idling: one interval from now (no
    // burst of saved-up tokens).
    const late = now - this.#next;
    const keep = late < this.#intervalMs || (backlogged && late < CATCH_UP_MS);
    this.#next = keep ? this.#next + this.#intervalMs : now + this.#intervalMs;
    if (this.#guardN <= GUARD_MAX) {
      this.#recent.push(now);
      if (this.#recent.length > this.#guardN) this.#recent.shift();
    }
    if (campaignRatePerMinute) {
      this.#campaigns.set(campaignId, Math.max(this.#campaigns.get(campaignId) ?? 0, now) + 60_000 / campaignRatePerMinute);
    }
    return now;
  }

  /** Forgets a campaign's cap state (the campaign left this account's buffer). */
  forget(campaignId: string): void {
    this.#campaigns.delete(campaignId);
  }
}
