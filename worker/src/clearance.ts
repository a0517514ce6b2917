// Clearance to send, per campaign: a delivery's send starts only while its campaign is cleared.
// The database clears the running campaigns this process holds deliveries of, for validMs
// counted from before it was asked (worker_clearance), and a pause or cancel of a running
// campaign waits that long before it answers; so once the owner's pause or cancel has answered,
// no send of the campaign starts (docs/decisions.md, "Pause and cancel: what the answer means").
// One statement per process every RENEW_MS while its accounts hold deliveries. A NOTIFY that a
// campaign stopped running sends its queued deliveries back at once.
// Actions on sent posts (edit, delete, pin) start under the same clearance: their campaigns are
// asked about too, with the held actions (one no longer pending is dropped unrun).
import type pg from 'pg';
import type { Account } from './account/account.ts';
import type { ActionVerdicts } from './actions/runner.ts';
import type { Verdict } from './account/deliveries.ts';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';
import type { Logger } from './logger.ts';
import { clock } from './pacing.ts';

/** Several renewals fit in one clearance (800 ms), so a slow one does not stall the sends. */
const RENEW_MS = 150;
/** Taken off each clearance: a send the worker starts reaches Telegram a moment later. */
const MARGIN_MS = 100;
/** A statement that hangs (a half-open connection) must not stop the renewals for good. */
const RENEW_TIMEOUT_MS = 5_000;
/** NOTIFY payload (pg-boss's channel) of a campaign that stopped running: 'campaign.<id>'. */
const STOPPED_PREFIX = 'campaign.';

export class SendClearance {
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #accounts: () => Iterable<Account>;
  #interval: NodeJS.Timeout | null = null;
  #busy = false;
  #again = false;
  #failing = false;

  /** Renews from now on, until stop(). */
  constructor(o: { pool: pg.Pool; log: Logger; accounts: () => Iterable<Account> }) {
    this.#pool = o.pool;
    this.#log = o.log;
    this.#accounts = o.accounts;
    this.#interval = setInterval(() => this.#run(), RENEW_MS);
    this.#interval.unref();
  }

  stop(): void {
    if (this.#interval) clearInterval(this.#interval);
    this.#interval = null;
  }

  /** An account holds deliveries of a campaign not cleared yet: ask now, not at the next turn. */
  soon(): void {
    setImmediate(() => this.#run());
  }

  #run(): void {
    if (!this.#interval) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    this.#again = false;
    void this.#renew().finally(() => {
      this.#busy = false;
      if (this.#again) this.#run();
    });
  }

  /** A NOTIFY on pg-boss's channel; true if it was 'campaign.<id>': the campaign stopped running. */
  notified(payload: string): boolean {
    if (!payload.startsWith(STOPPED_PREFIX)) return false;
    const id = payload.slice(STOPPED_PREFIX.length);
    for (const a of this.#accounts()) a.campaignStopped(id);
    // Its held actions wait for the next clearance: a completed campaign's may still run.
    this.soon();
    return true;
  }

  async #renew(): Promise<void> {
    const holding = [...this.#accounts()].filter((a) => a.campaignsHeld.length);
    if (!holding.length) return;
    const asked = clock();
    try {
      const ids = [...new Set(holding.flatMap((a) => a.campaignsHeld))];
      const actionIds = holding.flatMap((a) => a.actionsHeld);
      const c = await withTimeout(db.clearance(this.#pool, ids, actionIds), RENEW_TIMEOUT_MS, 'worker_clearance');
      const until = asked + c.validMs - MARGIN_MS;
      const verdicts = new Map<string, Verdict>(ids.map((id) => [id, 'stopping']));
      for (const id of c.running) verdicts.set(id, 'running');
      for (const id of c.stopped) verdicts.set(id, 'stopped');
      const actions: ActionVerdicts = { acting: new Set(c.acting), paused: new Set(c.paused), over: new Set(c.actionsOver) };
      for (const a of holding) a.clearance(verdicts, actions, until);
      if (this.#failing) this.#log.info('send clearance renewed again: sending');
      this.#failing = false;
    } catch (err) {
      // No clearance without the database: sends wait (a pause could not reach this process).
      if (!this.#failing) this.#log.warn({ err }, 'renewing the send clearance failed: sends wait until it succeeds');
      this.#failing = true;
    }
  }
}
