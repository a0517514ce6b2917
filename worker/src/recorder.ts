// Outcomes, account events and resolved peers of every account of the process, committed
// together in short transactions: one every flushMs at most while there is anything to record,
// so a busy fleet commits a few hundred deliveries per transaction, not two. A failed commit
// (database restarting) keeps everything for the next try; recording twice changes nothing
// (worker_record settles a delivery only for the job that claimed it).
import type pg from 'pg';
import * as db from './db.ts';
import { withTimeout } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export type AccountEvent =
  | { kind: 'flood'; accountId: string; seconds: number }
  /** committed: called once the status is in the database (a read started later sees it). */
  | { kind: 'status'; accountId: string; status: db.AccountStatus; reason: string; committed?: () => void }
  | { kind: 'reachable'; accountId: string; unreachableReason: string | null };

export interface RecorderHooks {
  /** After a commit: what was recorded and the touched campaigns' states. */
  committed(outcomes: db.Outcome[], campaigns: db.CampaignState[]): void;
  /** After a commit that recorded a FLOOD_WAIT: when the account's campaigns resume. */
  flooded(accountId: string, resumeAt: Date): void;
}

const RETRYABLE = new Set(['40P01', '40001']); // deadlock, serialization: try again at once

export class Recorder {
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #hooks: RecorderHooks;
  readonly #flushMs: number;
  readonly #metrics: Metrics;
  #outcomes: db.Outcome[] = [];
  #events: AccountEvent[] = [];
  #peers = new Map<string, db.PeerUpdate>();
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #failures = 0;

  constructor(pool: pg.Pool, opts: { flushMs: number; log: Logger; metrics: Metrics; hooks: RecorderHooks }) {
    this.#pool = pool;
    this.#metrics = opts.metrics;
    this.#flushMs = opts.flushMs;
    this.#log = opts.log;
    this.#hooks = opts.hooks;
  }

  get backlog(): number {
    return this.#outcomes.length + this.#events.length;
  }

  add(o: db.Outcome): void {
    this.#outcomes.push(o);
    this.#schedule();
  }

  event(e: AccountEvent): void {
    this.#events.push(e);
    this.#schedule();
  }

  peer(p: db.PeerUpdate): void {
    this.#peers.set(`${p.accountId}|${p.channelId}`, p);
  }

  /** Records everything added so far (graceful stop); gives up after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.backlog && Date.now() < end) {
      // A commit stuck on a connection that does not answer is not waited for past the end.
      await withTimeout(this.#flushing ?? this.#flush(), Math.max(1, end - Date.now()), 'recording').catch(() => {});
      if (this.backlog) await new Promise((r) => setTimeout(r, 100));
    }
  }

  #schedule(delay = this.#flushMs): void {
    if (this.#timer || this.#flushing) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#flush();
    }, delay);
  }

  #flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    const outcomes = this.#outcomes;
    const events = this.#events;
    const peers = [...this.#peers.values()];
    this.#outcomes = [];
    this.#events = [];
    this.#peers.clear();
    this.#flushing = this.#commit(outcomes, events, peers).then((ok) => {
      this.#flushing = null;
      if (!ok) {
        this.#outcomes = outcomes.concat(this.#outcomes);
        this.#events = events.concat(this.#events);
        for (const p of peers) if (!this.#peers.has(`${p.accountId}|${p.channelId}`)) this.peer(p);
      }
      if (this.backlog) this.#schedule(ok ? this.#flushMs : Math.min(5_000, 100 * 2 ** this.#failures));
    });
    return this.#flushing;
  }

  async #commit(outcomes: db.Outcome[], events: AccountEvent[], peers: db.PeerUpdate[]): Promise<boolean> {
    const t0 = performance.now();
    try {
      const { floods, campaigns } = await db.inTransaction(this.#pool, async (client) => {
        const floods: Array<{ accountId: string; resumeAt: Date }> = [];
        if (peers.length) await db.setChannelPeers(client, peers);
        // Events first: a FLOOD_WAIT pauses the campaigns before their deferred rows are recorded.
        for (const e of events) {
          if (e.kind === 'flood') {
            floods.push({ accountId: e.accountId, resumeAt: await db.floodWait(client, e.accountId, e.seconds) });
          } else if (e.kind === 'status') await db.setAccountStatus(client, e.accountId, e.status, e.reason);
          else await db.setUnreachable(client, e.accountId, e.unreachableReason);
        }
        return { floods, campaigns: outcomes.length ? await db.record(client, outcomes) : [] };
      });
      this.#failures = 0;
      this.#metrics.recordDuration.observe((performance.now() - t0) / 1000);
      this.#metrics.recordSize.observe(outcomes.length);
      for (const f of floods) this.#hooks.flooded(f.accountId, f.resumeAt);
      for (const e of events) if (e.kind === 'status') e.committed?.();
      this.#hooks.committed(outcomes, campaigns);
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!RETRYABLE.has(code)) this.#failures++;
      this.#log.warn({ err, outcomes: outcomes.length, events: events.length }, 'recording outcomes failed; will retry');
      return false;
    }
  }
}
