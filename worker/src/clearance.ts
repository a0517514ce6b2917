// Clearance to send, per campaign: a delivery's send starts only while its campaign is cleared.
// The database clears the running campaigns this process holds deliveries of, for validMs
// counted from before it was asked (worker_clearance), and a pause or cancel of a running
// campaign waits that long before it answers; so once the owner's pause or cancel has answered,
// no send of the campaign starts (docs/decisions.md, "Pause and cancel: what the answer means").
// One statement per process every RENEW_MS while its accounts hold deliveries. A NOTIFY that a
// campaign stopped running sends its queued deliveries back at once.
import type pg from 'pg';
import type { Account } from './account.ts';
import * as db from './db.ts';
import type { Logger } from './logger.ts';
import { clock } from './pacing.ts';

/** Several renewals fit in one clearance (800 ms), so a slow one does not stall the sends. */
const RENEW_MS = 150;
/** Taken off each clearance: a send the worker starts reaches Telegram a moment later. */
const MARGIN_MS = 100;
/** NOTIFY payload (pg-boss's channel) of a campaign that stopped running: 'campaign.<id>'. */
const STOPPED_PREFIX = 'campaign.';

export class SendClearance {
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #accounts: () => Iterable<Account>;
  #interval: NodeJS.Timeout | null = null;
  #failing = false;

  constructor(o: { pool: pg.Pool; log: Logger; accounts: () => Iterable<Account> }) {
    this.#pool = o.pool;
    this.#log = o.log;
    this.#accounts = o.accounts;
  }

  start(): void {
    let busy = false;
    this.#interval = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.#renew().finally(() => {
        busy = false;
      });
    }, RENEW_MS);
    this.#interval.unref();
  }

  stop(): void {
    if (this.#interval) clearInterval(this.#interval);
  }

  /** A NOTIFY on pg-boss's channel; 'campaign.<id>': the campaign stopped running. */
  notified(payload: string): void {
    if (!payload.startsWith(STOPPED_PREFIX)) return;
    const id = payload.slice(STOPPED_PREFIX.length);
    for (const a of this.#accounts()) a.campaignStopped(id);
  }

  async #renew(): Promise<void> {
    const holding = [...this.#accounts()].filter((a) => a.campaignsHeld.length);
    if (!holding.length) return;
    const asked = clock();
    try {
      const c = await db.clearance(this.#pool, [...new Set(holding.flatMap((a) => a.campaignsHeld))]);
      const until = asked + c.validMs - MARGIN_MS;
      const running = new Set(c.running);
      const stopped = new Set(c.stopped);
      for (const a of holding) a.clearance(running, stopped, until);
      if (this.#failing) this.#log.info('send clearance renewed again: sending');
      this.#failing = false;
    } catch (err) {
      // No clearance without the database: sends wait (a pause could not reach this process).
      if (!this.#failing) this.#log.warn({ err }, 'renewing the send clearance failed: sends wait until it succeeds');
      this.#failing = true;
    }
  }
}
