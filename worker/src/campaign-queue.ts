// The claimed deliveries of one account, per campaign, taken round-robin between campaigns,
// each campaign's clearance to send (a send starts only before it runs out: see clearance.ts)
// and each campaign's error budget: with sends in flight, a send starts only while those in
// flight could not all fail beyond the first failure past max_errors, so a campaign stops at
// exactly that failure (the SQL trigger pauses it on that one).
import type { ClaimRow } from './db.ts';

interface Campaign {
  rows: ClaimRow[];
  rate: number | null;
  maxErrors: number | null;
  /** Failures counting against max_errors when the budget was set, and since, in this process. */
  failedBase: number;
  failedHere: number;
  inFlight: number;
  /** Sends of the campaign may start until then (clock()); 0: not cleared. */
  clearedUntil: number;
}

export class CampaignQueues {
  #campaigns = new Map<string, Campaign>();
  #order: string[] = [];
  #next = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(row: ClaimRow): void {
    let c = this.#campaigns.get(row.campaign_id);
    // A lower count than this process has seen: the owner resumed or retried; budget anew.
    if (c && row.campaign_failed_count < c.failedBase + c.failedHere) {
      c.failedBase = row.campaign_failed_count;
      c.failedHere = 0;
    }
    if (!c) {
      c = {
        rows: [],
        rate: null,
        maxErrors: null,
        failedBase: row.campaign_failed_count,
        failedHere: 0,
        inFlight: 0,
        clearedUntil: 0,
      };
      this.#campaigns.set(row.campaign_id, c);
      this.#order.push(row.campaign_id);
    }
    c.rate = row.campaign_rate_per_minute;
    c.maxErrors = row.campaign_max_errors;
    c.rows.push(row);
    this.#size++;
  }

  /** Sends a campaign may still start now (Infinity without max_errors). */
  #room(c: Campaign): number {
    if (c.maxErrors === null) return Number.POSITIVE_INFINITY;
    // At least one: a campaign the owner resumed past its threshold sends until its next failure.
    const left = Math.max(1, c.maxErrors - c.failedBase + 1) - c.failedHere;
    return left - c.inFlight;
  }

  /** The campaign may start sends until `until` (clock(); 0: from now on it may not). */
  clear(campaignId: string, until: number): void {
    const c = this.#campaigns.get(campaignId);
    if (c) c.clearedUntil = until;
  }

  /** May a send of the campaign start at `now`? */
  cleared(campaignId: string, now: number): boolean {
    return (this.#campaigns.get(campaignId)?.clearedUntil ?? 0) > now;
  }

  /**
   * The next row in round-robin order whose campaign is cleared, has room and whose slot
   * (slotAt) has come; otherwise null and the earliest slot among the campaigns that could send.
   */
  pick(
    slotAt: (campaignId: string, rate: number | null) => number,
    now: number,
  ): { row: ClaimRow; rate: number | null } | { row: null; at: number } {
    let at = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.#order.length; i++) {
      const id = this.#order[(this.#next + i) % this.#order.length]!;
      const c = this.#campaigns.get(id)!;
      if (!c.rows.length || c.clearedUntil <= now || this.#room(c) <= 0) continue;
      const t = slotAt(id, c.rate);
      if (t > now) {
        at = Math.min(at, t);
        continue;
      }
      this.#next = (this.#next + i + 1) % this.#order.length;
      this.#size--;
      c.inFlight++;
      return { row: c.rows.shift()!, rate: c.rate };
    }
    return { row: null, at };
  }

  /** A picked row goes back to the head of its campaign (not sent yet). */
  putBack(row: ClaimRow): void {
    const c = this.#campaigns.get(row.campaign_id)!;
    c.inFlight--;
    c.rows.unshift(row);
    this.#size++;
  }

  /** Removes a queued row and counts it in flight (its outcome comes through settle). */
  remove(row: ClaimRow): boolean {
    const c = this.#campaigns.get(row.campaign_id);
    const i = c ? c.rows.indexOf(row) : -1;
    if (!c || i < 0) return false;
    c.rows.splice(i, 1);
    c.inFlight++;
    this.#size--;
    return true;
  }

  /** A send of the campaign finished; failed: it counts against max_errors. */
  settle(campaignId: string, failed: boolean): void {
    const c = this.#campaigns.get(campaignId);
    if (!c) return;
    c.inFlight--;
    if (failed) c.failedHere++;
  }

  /** Rows of campaigns that reached their threshold: they go back unsent. */
  takeExhausted(): ClaimRow[] {
    const out: ClaimRow[] = [];
    for (const c of this.#campaigns.values()) {
      if (c.rows.length && c.maxErrors !== null && this.#room(c) + c.inFlight <= 0) out.push(...this.#empty(c));
    }
    return out;
  }

  /**
   * Removes the campaign's rows and its clearance (it stopped running); forget: also its budget
   * (it is over).
   */
  takeCampaign(campaignId: string, forget: boolean): ClaimRow[] {
    const c = this.#campaigns.get(campaignId);
    if (!c) return [];
    c.clearedUntil = 0;
    const rows = this.#empty(c);
    if (forget && c.inFlight === 0) {
      this.#campaigns.delete(campaignId);
      this.#order = this.#order.filter((id) => id !== campaignId);
      this.#next = 0;
    }
    return rows;
  }

  /** Campaigns with rows queued or in flight: those whose clearance matters. */
  active(): string[] {
    return [...this.#campaigns].filter(([, c]) => c.rows.length || c.inFlight).map(([id]) => id);
  }

  /** Rows queued per campaign (the fetch evens them out). */
  queuedByCampaign(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, c] of this.#campaigns) if (c.rows.length) out[id] = c.rows.length;
    return out;
  }

  /** Queued rows, campaign by campaign. */
  *rows(): Iterable<ClaimRow> {
    for (const c of this.#campaigns.values()) yield* c.rows;
  }

  takeAll(): ClaimRow[] {
    return [...this.#campaigns.values()].flatMap((c) => this.#empty(c));
  }

  #empty(c: Campaign): ClaimRow[] {
    const rows = c.rows;
    c.rows = [];
    this.#size -= rows.length;
    return rows;
  }
}
