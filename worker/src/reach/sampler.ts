// Reach sampling: the views, forwards, replies and reactions of sent posts, read through the
// connection of the account that holds the campaign (messages.getMessagesViews, increment false,
// then messages.getMessagesReactions, each up to 100 posts of one channel per call). A round is a pg-boss job of queue `reach`; this worker takes the jobs
// of the accounts it holds and is sending with (Fleet.connection), one job per account at a time,
// each of its calls at the account's own reach pace (reachCallsPerMinute), apart from the send pacer: a
// read takes no send slot, and a FLOOD_WAIT answered to a read holds that account's reads only.
// Each call's figures are stored as it returns; a job taken again samples only what is left.
import type pg from 'pg';
import { sleep } from '../../../contracts/time.ts';
import type { WorkerConfig } from '../config.ts';
import { classify, withTimeout } from '../errors.ts';
import type { ResolvedPeer, TelegramGateway } from '../gateway/types.ts';
import type { Logger } from '../logger.ts';
import * as db from './db.ts';

/** Posts per messages.getMessagesViews / getMessagesReactions call (larger asks are refused). */
export const POSTS_PER_CALL = 100;
/** Calls (views and reactions each count) one job makes before it goes back to the queue (others of the account get their turn). */
const CALLS_PER_TURN = 300;
/** A job whose account lost its connection, or whose read failed transiently, is tried again after this long. */
const RETRY_MS = 60_000;

export interface ReachHost {
  /** The accounts of this process. */
  accountIds(): Iterable<string>;
  /** The account's connection while this worker holds it and sends with it; null otherwise. */
  connection(accountId: string): TelegramGateway | null;
  /** The lock session's backend pid (0: no session). */
  lockPid(): number;
}

/** What is left of a job after a turn: nothing, or more from `at` on. */
type Turn = { done: true } | { done: false; at: number };

/** Consecutive posts of one channel, at most POSTS_PER_CALL; peer null: they cannot be read. */
interface Call {
  peer: ResolvedPeer | null;
  posts: db.ReachTarget[];
}

export function callsOf(targets: db.ReachTarget[]): Call[] {
  const calls: Call[] = [];
  for (const t of targets) {
    const last = calls.at(-1);
    if (last && last.posts[0]!.telegramId === t.telegramId && last.posts.length < POSTS_PER_CALL) {
      last.posts.push(t);
    } else {
      const channel = t.telegramId?.startsWith('-100') && t.accessHash !== null;
      calls.push({ peer: channel ? { telegramId: t.telegramId!, accessHash: t.accessHash } : null, posts: [t] });
    }
  }
  return calls;
}

const failed = (posts: db.ReachTarget[], errorCode: string): db.ReachSample[] =>
  posts.map((p) => ({ deliveryId: p.deliveryId, views: null, forwards: null, replies: null, reactions: null, errorCode }));

export class ReachSampler {
  readonly #pool: pg.Pool;
  readonly #config: WorkerConfig;
  readonly #log: Logger;
  readonly #host: ReachHost;
  /** Accounts with a job under way, and that job. */
  readonly #running = new Map<string, Promise<void>>();
  /** When each account's next read may start (its reach pace). */
  readonly #nextCall = new Map<string, number>();
  /** Reads of the account wait until then (a FLOOD_WAIT answered to one). */
  readonly #heldUntil = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;
  #stopped = false;

  constructor(o: { pool: pg.Pool; config: WorkerConfig; log: Logger; host: ReachHost }) {
    this.#pool = o.pool;
    this.#config = o.config;
    this.#log = o.log;
    this.#host = o.host;
  }

  start(): void {
    if (this.#config.reachCallsPerMinute <= 0) return;
    this.#timer = setInterval(() => void this.tick(), this.#config.pollingSeconds * 1000);
    this.#timer.unref();
  }

  /** No job starts; those under way go back to the queue after their current call. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all(this.#running.values());
  }

  /** Takes a due job for each account that is free to read, and runs them. Never throws. */
  async tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    try {
      const now = Date.now();
      const free = [...this.#host.accountIds()].filter((id) =>
        !this.#running.has(id) && (this.#heldUntil.get(id) ?? 0) <= now && this.#host.connection(id)
      );
      const pid = this.#host.lockPid();
      if (!free.length || !pid) return;
      for (const job of await db.takeJobs(this.#pool, pid, free)) {
        const run = this.#run(job).finally(() => this.#running.delete(job.accountId));
        this.#running.set(job.accountId, run);
      }
    } catch (err) {
      this.#log.warn({ err }, 'taking reach jobs failed; trying again');
    } finally {
      this.#ticking = false;
    }
  }

  async #run(job: db.ReachJob): Promise<void> {
    try {
      const turn = await this.#turn(job);
      if (turn.done) await db.finish(this.#pool, job.jobId);
      else await db.defer(this.#pool, job.jobId, turn.at);
    } catch (err) {
      this.#log.warn({ err, jobId: job.jobId, campaignId: job.campaignId }, 'reach round failed; it will be retried');
      // Not put back (the database away): it comes back after its expiry (the queue's expireInSeconds).
      await db.defer(this.#pool, job.jobId, Date.now() + RETRY_MS).catch(() => {});
    }
  }

  /** Samples the job's posts until none is left, the account may not read now, or its turn is used up. */
  async #turn(job: db.ReachJob): Promise<Turn> {
    let calls = 0;
    for (;;) {
      const todo = await db.targets(this.#pool, job.jobId, POSTS_PER_CALL * 10);
      if (!todo.length) return { done: true };
      for (const call of callsOf(todo)) {
        if (!call.peer) {
          await db.store(this.#pool, job.jobId, failed(call.posts, call.posts[0]!.telegramId ? 'NOT_A_CHANNEL' : 'NO_PEER'));
          continue;
        }
        calls += 2;
        if (this.#stopped || calls > CALLS_PER_TURN) return { done: false, at: Date.now() };
        const held = await this.#read(job, call.peer, call.posts);
        if (held) return held;
      }
    }
  }

  /** Views then reactions, each a paced call, and their samples stored; a Turn when the job must wait instead. */
  async #read(job: db.ReachJob, peer: ResolvedPeer, posts: db.ReachTarget[]): Promise<Turn | null> {
    const ids = posts.map((p) => p.messageId);
    try {
      const views = await this.#call(job, 'GetMessagesViews', (g) => g.getMessagesViews(peer, ids));
      if (!views) return this.#notNow();
      const reactions = await this.#call(job, 'GetMessagesReactions', (g) => g.getMessagesReactions(peer, ids));
      if (!reactions) return this.#notNow();
      const samples = posts.map((p, i) => ({
        deliveryId: p.deliveryId,
        errorCode: null,
        ...views[i]!,
        reactions: reactions[i]!,
      }));
      await db.store(this.#pool, job.jobId, samples);
      return null;
    } catch (err) {
      const c = classify(err);
      if (c.kind === 'flood_wait') {
        const until = Date.now() + c.seconds * 1000;
        this.#heldUntil.set(job.accountId, until);
        this.#log.warn({ accountId: job.accountId, seconds: c.seconds }, 'FLOOD_WAIT on reach reads: reads wait, sends go on');
        return { done: false, at: until };
      }
      if (c.kind !== 'permanent') return { done: false, at: Date.now() + RETRY_MS };
      // The channel's answer (CHANNEL_PRIVATE, CHANNEL_INVALID, ...): its posts have no figures this round.
      await db.store(this.#pool, job.jobId, failed(posts, c.code));
      return null;
    }
  }

  /** One call in the account's next reach slot; null: no connection for it now, or stopping. */
  async #call<T>(job: db.ReachJob, name: string, read: (g: TelegramGateway) => Promise<T>): Promise<T | null> {
    await this.#slot(job.accountId);
    const gateway = this.#host.connection(job.accountId);
    if (!gateway || this.#stopped) return null;
    return await withTimeout(read(gateway), this.#config.sendTimeoutMs, name);
  }

  /** The job goes back: at once when stopping, after RETRY_MS when the account has no connection. */
  #notNow(): Turn {
    return { done: false, at: Date.now() + (this.#stopped ? 0 : RETRY_MS) };
  }

  /** Waits for the account's next reach slot and books the one after it. */
  async #slot(accountId: string): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.#nextCall.get(accountId) ?? 0);
    this.#nextCall.set(accountId, at + 60_000 / this.#config.reachCallsPerMinute);
    if (at > now) await sleep(at - now);
  }
}
