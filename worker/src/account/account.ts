// One Telegram account in this process: its session (gateway), its status, and the parts that
// send for it while holding no database connection: the deliveries claimed for it
// (deliveries.ts), the loop that runs them at the account's pace (paced-loop.ts), one send
// (send.ts: peer, post, outcome), test sends, peer lookups and what a refusal does
// (failures.ts). Every outcome goes to the recorder; the fetch loop refills the queue.
import { AccountActions, type ActionVerdicts } from '../actions/runner.ts';
import { isActionRow } from '../actions/store.ts';
import { CampaignQueues } from '../campaign-queue.ts';
import type * as db from '../db.ts';
import { classify, withTimeout } from '../errors.ts';
import type { TelegramGateway } from '../gateway/types.ts';
import { storageMediaSource } from '../media.ts';
import { AccountPacer } from '../pacing.ts';
import { Reachability } from '../reachability.ts';
import type { AccountContext, AccountDeps, AccountStatus } from './context.ts';
import { Deliveries, type Verdict } from './deliveries.ts';
import { Failures } from './failures.ts';
import { AccountMedia } from './media.ts';
import { PacedLoop } from './paced-loop.ts';
import { AccountPeers } from './peers.ts';
import { sendDelivery } from './send.ts';
import { testSend } from './test-send.ts';

export class Account {
  readonly id: string;
  status: AccountStatus = 'waiting_lock';
  statusReason: string | null = null;
  lastSentAt: number | null = null;
  readonly pacer = new AccountPacer(20);
  readonly media: AccountMedia;
  readonly #deps: AccountDeps;
  readonly #queue = new CampaignQueues();
  readonly #failures: Failures;
  readonly #deliveries: Deliveries;
  readonly #actions: AccountActions;
  readonly #loop: PacedLoop;
  #gateway: TelegramGateway | null = null;
  #reach: Reachability | null = null;

  constructor(id: string, deps: AccountDeps) {
    this.id = id;
    this.#deps = deps;
    const { supabaseUrl, serviceRoleKey, sendTimeoutMs, sendConcurrency } = deps.config;
    // A file of up to 50 MB is fetched and uploaded in parts: far longer than one send may take.
    this.media = new AccountMedia(
      storageMediaSource(supabaseUrl, serviceRoleKey),
      () => this.#gateway!,
      Math.max(120_000, sendTimeoutMs * 8),
    );
    const ctx = this.#context();
    const failures = new Failures(ctx, { reach: () => this.#reach!, releaseAll: () => this.#releaseAll() });
    const peers = new AccountPeers(ctx, {
      unresolved: async (row, err) => {
        if (this.#queue.remove(row)) await failures.failed(row, classify(err));
      },
      resolved: () => this.#pump(),
    });
    const sent = () => void (this.lastSentAt = Date.now());
    const backlogged = () => this.#loop.backlogged;
    this.#deliveries = new Deliveries(ctx, peers, {
      send: (row) => sendDelivery({ ctx, peers, failures, sent }, row),
      test: (row) => void testSend({ ctx, peers, failures, backlogged }, row),
    });
    this.#actions = new AccountActions(ctx, {
      peerOf: async (row) => peers.known(row) ?? (await peers.resolve(row)),
      stopping: (c) => failures.stopping(c),
    });
    this.#failures = failures;
    // The kinds of paced work this account runs, asked in this order for their next piece
    // (actions give every other slot to the deliveries).
    this.#loop = new PacedLoop(this.pacer, [this.#actions, this.#deliveries], sendConcurrency, () => this.#pump());
  }

  /** What the account's parts share. */
  #context(): AccountContext {
    return {
      id: this.id,
      deps: this.#deps,
      pacer: this.pacer,
      media: this.media,
      queue: this.#queue,
      account: this,
      gateway: () => this.#gateway!,
    };
  }

  /** Claimed rows waiting for their slot, per campaign. */
  get queuedByCampaign(): Record<string, number> {
    return this.#queue.queuedByCampaign();
  }

  /** Claimed rows (deliveries and actions on posts) waiting for their slot. */
  get queued(): number {
    return this.#queue.size + this.#actions.size;
  }

  /** May the fetch loop take jobs for this account now? */
  get canFetch(): boolean {
    return this.status === 'running' && this.#failures.floodOver;
  }

  /** Campaigns with deliveries queued or in flight, or actions queued, here: those that need a clearance. */
  get campaignsHeld(): string[] {
    return [...new Set([...this.#queue.active(), ...this.#actions.campaigns()])];
  }

  /** Actions on posts queued here (their ids): one no longer pending is dropped unrun. */
  get actionsHeld(): string[] {
    return this.#actions.ids();
  }

  setStatus(s: AccountStatus, reason: string | null = null): void {
    this.status = s;
    this.statusReason = reason;
    this.#deps.metrics.accountUp.set({ account: this.id }, s === 'running' ? 1 : 0);
  }

  /** Connects the session once the lock is held; a session Telegram refuses stops the account. */
  async start(): Promise<void> {
    this.setStatus('starting');
    this.#gateway ??= this.#deps.createGateway(this.id);
    this.#reach?.stop();
    this.#reach = new Reachability(this.#gateway, this.#deps.config, {
      lost: (reason) => this.#unreachable(reason),
      back: () => this.#reachable(),
    });
    try {
      await withTimeout(this.#gateway.start(), this.#deps.config.sendTimeoutMs, 'connect');
    } catch (err) {
      return this.#startFailed(err);
    }
    this.setStatus('running');
    // Connected: an unreachable mark a previous connection (or worker) left is no longer true.
    this.#deps.recorder.event({ kind: 'reachable', accountId: this.id, unreachableReason: null });
    this.#deps.wake(this.id);
  }

  #startFailed(err: unknown): void {
    const c = classify(err);
    if (c.kind === 'transient' || c.kind === 'flood_wait') {
      // Not a refused session: start again with the unreachable backoff, after any FLOOD_WAIT.
      const until = Date.now() + (c.kind === 'flood_wait' ? c.seconds * 1000 : 0);
      const again = () => Date.now() < until ? Promise.reject(new Error(c.code)) : this.#gateway!.start();
      return this.#reach!.lose(`${c.code}: ${c.message}`, again);
    }
    // Stopped by Telegram (PEER_FLOOD, frozen) sends again on the owner's resume, as after a send.
    const stopped = c.kind === 'account' && c.status !== 'revoked';
    this.setStatus(stopped ? 'account_stopped' : 'session_lost', `${c.code}: ${c.message}`);
    this.#deps.log.error({ err, accountId: this.id }, 'Telegram session unusable: not sending for this account');
    if (c.kind === 'account') this.#failures.recordStop(c);
  }

  /**
   * The account's row as the database has it (pace, flood, an owner's resume after PEER_FLOOD),
   * read by a query that started at `readAt` (the pacer's clock).
   */
  refresh(row: db.AccountRow, readAt: number): void {
    this.pacer.setRate(row.rate_per_minute);
    this.#failures.flood(row.flood_wait_until ? new Date(row.flood_wait_until).getTime() : 0);
    this.#failures.endFlood();
    if (this.status === 'account_stopped' && this.#failures.resumed(row, readAt)) {
      this.pacer.unblock();
      this.setStatus('running');
      this.#deps.log.info({ accountId: this.id }, 'account active again (campaign resumed by its owner): sending');
      this.#deps.wake(this.id);
    }
  }

  /** Rows the fetch loop claimed for this account: skips are recorded, sends and actions queued. */
  enqueue(rows: db.Claimed[]): void {
    for (const r of rows) if (isActionRow(r)) this.#actions.add(r);
    this.#deliveries.enqueue(rows.filter((r): r is db.ClaimRow => !isActionRow(r)));
    this.#pump();
  }

  /** The recorder committed these campaigns' states: rows of one that stopped running go back. */
  campaignStates(states: db.CampaignState[]): void {
    this.#deliveries.campaignStates(states);
  }

  /**
   * What the database said of the campaigns it was asked about (worker_clearance): a running one
   * may start sends until `until` (clock()), one being stopped may not, a stopped one sends its
   * queued rows back; likewise for actions on its posts.
   */
  clearance(verdicts: ReadonlyMap<string, Verdict>, actions: ActionVerdicts, until: number): void {
    this.#deliveries.clearance(verdicts, until);
    this.#actions.clearance(actions, until);
    this.#pump();
  }

  /** The campaign stopped running (paused, cancelled...): no send or action of it starts, its queued rows go back. */
  campaignStopped(campaignId: string): void {
    this.#deliveries.campaignStopped(campaignId);
    this.#actions.campaignStopped(campaignId);
  }

  /** Stops sending: queued rows go back unsent; in-flight sends finish and are recorded. */
  async suspend(status: AccountStatus, reason: string | null): Promise<void> {
    this.setStatus(status, reason);
    this.#releaseAll();
    await this.#loop.settled();
  }

  /** Every claimed row goes back unsent (deferred). */
  #releaseAll(): void {
    this.#deliveries.releaseAll();
    this.#actions.releaseAll();
  }

  async stop(): Promise<void> {
    await this.suspend('stopped', null);
    this.#reach?.stop();
    this.#loop.stop();
    await this.#gateway?.stop().catch(() => {});
    this.#gateway = null;
  }

  /** Runs whatever paced work has come due, then asks for more deliveries if few are left. */
  #pump(): void {
    if (this.status !== 'running') return;
    this.#deliveries.dropExhausted();
    this.#loop.fill();
    this.#deliveries.askIfLow();
  }

  #unreachable(reason: string): void {
    if (this.status === 'running' || this.status === 'starting') this.setStatus('unreachable', reason);
    this.#deps.recorder.event({ kind: 'reachable', accountId: this.id, unreachableReason: reason });
    this.#deps.log.warn({ accountId: this.id, reason }, 'Telegram unreachable: deliveries wait');
    this.#releaseAll();
  }

  #reachable(): void {
    this.#deps.recorder.event({ kind: 'reachable', accountId: this.id, unreachableReason: null });
    this.#deps.log.info({ accountId: this.id }, 'Telegram reachable again: sending');
    if (this.status === 'unreachable' || this.status === 'starting') this.setStatus('running');
    this.#deps.wake(this.id);
  }
}
