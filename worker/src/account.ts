// One Telegram account in this process: its session (gateway), its pacer, and the deliveries
// claimed for it, sent round-robin between its campaigns at the account's pace while holding no
// database connection. Every outcome goes to the recorder; the fetch loop refills the queue.
import { isFinished } from '../../contracts/realtime.ts';
import { sleep } from '../../contracts/time.ts';
import { AccountMedia } from './account-media.ts';
import { AccountActions, ACTION_SLOT, type ActionResult } from './actions/runner.ts';
import { type ActionRow, isActionRow } from './actions/store.ts';
import { CampaignQueues } from './campaign-queue.ts';
import type { WorkerConfig } from './config.ts';
import type * as db from './db.ts';
import { type Classified, classify, isStaleMedia, withTimeout } from './errors.ts';
import { type ResolvedPeer, SAVED_MESSAGES, type TelegramGateway } from './gateway/types.ts';
import type { Logger } from './logger.ts';
import { storageMediaSource } from './media.ts';
import type { Metrics } from './metrics.ts';
import { outcomeOf, type RowOutcome } from './outcomes.ts';
import { AccountPacer, clock } from './pacing.ts';
import type { Recorder } from './recorder.ts';
import { Reachability } from './reachability.ts';

export type AccountStatus =
  | 'waiting_lock'
  | 'starting'
  | 'running'
  | 'flood_wait'
  | 'unreachable'
  | 'account_stopped'
  | 'session_lost'
  | 'stopped';

export interface AccountDeps {
  config: WorkerConfig;
  log: Logger;
  metrics: Metrics;
  recorder: Recorder;
  createGateway(accountId: string): TelegramGateway;
  /** The account has (or will have at `at`) jobs to fetch. */
  wake(accountId: string, at?: number): void;
  /** The account's queue ran low: fetch for it if it has jobs. */
  hungry(accountId: string): void;
  /** Deliveries of a campaign without a clearance were queued: ask for one now. */
  uncleared(): void;
}

/** A campaign as worker_clearance saw it: cleared, a pause or cancel under way, or not running. */
export type Verdict = 'running' | 'stopping' | 'stopped';

/** A send whose campaign's clearance ran out before it could start: it goes back unsent. */
class NotCleared extends Error {}

/** The pacer's key for test sends: they take the account's slots, never a campaign's cap. */
const TEST_SLOT = 'test';
/** A test send not sent within this long of being asked for is not sent at all (the caller gave up). */
const TEST_TTL_MS = 60_000;

/** Rows to keep claimed ahead of the pacer (about lookaheadSeconds of sending), and when to refill. */
export function bufferTarget(ratePerMinute: number, lookaheadSeconds: number): { target: number; low: number } {
  const target = Math.max(2, Math.ceil((ratePerMinute / 60) * lookaheadSeconds));
  return { target, low: Math.ceil(target / 2) };
}

/**
 * A peer a user account can send to: a channel or user needs the access hash this account was
 * given (0 is valid for bots only); a basic group's marked id (-<id>, not -100<id>) needs none.
 */
/** What a peer lookup reads of a claimed row (a send's or an action's). */
type PeerRow = Pick<db.ClaimRow, 'telegram_id' | 'access_hash' | 'channel_id' | 'peer'>;

function usable(p: ResolvedPeer): boolean {
  return p.accessHash !== null || (p.telegramId.startsWith('-') && !p.telegramId.startsWith('-100'));
}

export class Account {
  readonly id: string;
  status: AccountStatus = 'waiting_lock';
  statusReason: string | null = null;
  lastSentAt: number | null = null;
  readonly pacer = new AccountPacer(20);
  readonly #deps: AccountDeps;
  readonly #queue = new CampaignQueues();
  readonly #peers = new Map<string, ResolvedPeer>();
  readonly #duplicates = new Map<string, number>();
  #gateway: TelegramGateway | null = null;
  #reach: Reachability | null = null;
  #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = 0;
  #floodUntil = 0;
  /** When the status of the last stop Telegram caused was committed (null: not yet). */
  #stopRecordedAt: number | null = null;
  readonly #resolving = new Map<string, Promise<void>>();
  readonly media: AccountMedia;
  /** The queue ran dry since the last send: the next one starts the pace afresh. */
  #idle = true;
  /** Actions on sent posts, given every other slot while sends wait too. */
  readonly #actions: AccountActions;
  #actionTurn = true;

  constructor(id: string, deps: AccountDeps) {
    this.id = id;
    this.#deps = deps;
    const { supabaseUrl, serviceRoleKey, sendTimeoutMs } = deps.config;
    // A file of up to 50 MB is fetched and uploaded in parts: far longer than one send may take.
    this.media = new AccountMedia(
      storageMediaSource(supabaseUrl, serviceRoleKey),
      () => this.#gateway!,
      Math.max(120_000, sendTimeoutMs * 8),
    );
    this.#actions = new AccountActions({
      config: deps.config,
      gateway: () => this.#gateway!,
      peerOf: async (row) => this.#knownPeer(row) ?? (await this.#resolve(row)),
      record: (row, result) => this.#recordAction(row, result),
      telegramStopped: (c) => this.#telegramStopped(c),
    });
  }

  /** Claimed rows waiting for their slot, per campaign. */
  get queuedByCampaign(): Record<string, number> {
    return this.#queue.queuedByCampaign();
  }

  /** Claimed rows (sends and actions) waiting for their slot. */
  get queued(): number {
    return this.#queue.size + this.#actions.size;
  }

  /** May the fetch loop take jobs for this account now? */
  get canFetch(): boolean {
    return this.status === 'running' && this.#floodUntil <= Date.now();
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
      const c = classify(err);
      if (c.kind === 'transient' || c.kind === 'flood_wait') {
        // Not a refused session: start again with the unreachable backoff, after any FLOOD_WAIT.
        const until = Date.now() + (c.kind === 'flood_wait' ? c.seconds * 1000 : 0);
        const again = () => Date.now() < until ? Promise.reject(new Error(c.code)) : this.#gateway!.start();
        return void this.#reach.lose(`${c.code}: ${c.message}`, again);
      }
      // Stopped by Telegram (PEER_FLOOD, frozen) sends again on the owner's resume, as after a send.
      const stopped = c.kind === 'account' && c.status !== 'revoked';
      this.setStatus(stopped ? 'account_stopped' : 'session_lost', `${c.code}: ${c.message}`);
      this.#deps.log.error({ err, accountId: this.id }, 'Telegram session unusable: not sending for this account');
      if (c.kind === 'account') this.#recordStop(c);
      return;
    }
    this.setStatus('running');
    this.#deps.wake(this.id);
  }

  /**
   * Records the status Telegram's answer gave the account (revoked, peer_flood, frozen). Until it
   * is committed, a row read earlier still says 'active': that is not the owner's resume.
   */
  #recordStop(c: Extract<Classified, { kind: 'account' }>): void {
    this.#stopRecordedAt = null;
    const committed = () => void (this.#stopRecordedAt = clock());
    this.#deps.recorder.event({
      kind: 'status',
      accountId: this.id,
      status: c.status,
      reason: `${c.code}: ${c.message}`,
      committed,
    });
  }

  /**
   * The account's row as the database has it (pace, flood, an owner's resume after PEER_FLOOD),
   * read by a query that started at `readAt` (the pacer's clock).
   */
  refresh(row: db.AccountRow, readAt: number): void {
    this.pacer.setRate(row.rate_per_minute);
    const until = row.flood_wait_until ? new Date(row.flood_wait_until).getTime() : 0;
    if (until > this.#floodUntil) this.#flood(until);
    this.#floodOver();
    const resumed = this.#stopRecordedAt !== null && readAt > this.#stopRecordedAt && row.status === 'active';
    if (this.status === 'account_stopped' && resumed) {
      this.pacer.unblock();
      this.setStatus('running');
      this.#deps.log.info({ accountId: this.id }, 'account active again (campaign resumed by its owner): sending');
      this.#deps.wake(this.id);
    }
  }

  /** Rows the fetch loop claimed for this account: skips are recorded, sends queued. */
  enqueue(rows: db.Claimed[]): void {
    for (const r of rows) {
      if (isActionRow(r)) this.#actions.add(r);
      else if (r.action === 'skip') this.#record(r, { outcome: 'skip' });
      else if (r.action === 'test') void this.#test(r);
      else this.#queue.add(r);
    }
    for (const r of rows) if (r.action === 'send' && this.#needsPeer(r)) this.#prepare(r);
    if (rows.some((r) => r.action === 'send' && !this.#queue.cleared(r.campaign_id, clock()))) this.#deps.uncleared();
    this.#pump();
  }

  /** The recorder committed these campaigns' states: rows of one that stopped running go back. */
  campaignStates(states: db.CampaignState[]): void {
    for (const c of states) {
      if (c.state === 'running') continue;
      const over = isFinished(c);
      for (const r of this.#queue.takeCampaign(c.id, over)) this.#record(r, { outcome: 'deferred' });
      if (!over) continue;
      this.pacer.forget(c.id);
      this.media.forget(c.id);
    }
  }

  /** Campaigns with deliveries queued or in flight here: those that need a clearance to send. */
  get campaignsHeld(): string[] {
    return this.#queue.active();
  }

  /**
   * What the database said of the campaigns it was asked about (worker_clearance): a running one
   * may start sends until `until` (clock()), one being stopped may not, a stopped one sends its
   * queued rows back.
   */
  clearance(verdicts: ReadonlyMap<string, Verdict>, until: number): void {
    for (const id of this.#queue.active()) {
      const v = verdicts.get(id);
      if (v === 'stopped') this.campaignStopped(id);
      else if (v) this.#queue.clear(id, v === 'running' ? until : 0);
    }
    this.#pump();
  }

  /** The campaign stopped running (paused, cancelled...): no send of it starts, its queued rows go back. */
  campaignStopped(campaignId: string): void {
    for (const r of this.#queue.takeCampaign(campaignId, false)) this.#record(r, { outcome: 'deferred' });
  }

  /** Stops sending: queued rows go back unsent; in-flight sends finish and are recorded. */
  async suspend(status: AccountStatus, reason: string | null): Promise<void> {
    this.setStatus(status, reason);
    this.#releaseAll();
    await Promise.all(this.#inFlight);
  }

  async stop(): Promise<void> {
    await this.suspend('stopped', null);
    this.#reach?.stop();
    if (this.#timer) clearTimeout(this.#timer);
    // Started again later (handed back to this worker), the next wait arms a timer of its own.
    this.#timer = null;
    await this.#gateway?.stop().catch(() => {});
    this.#gateway = null;
  }

  #releaseAll(): void {
    for (const r of this.#queue.takeAll()) this.#record(r, { outcome: 'deferred' });
    this.#actions.releaseAll();
  }

  /** Starts every send whose slot has come, up to sendConcurrency in flight; else a timer. */
  #pump(): void {
    if (this.status !== 'running') return;
    for (const r of this.#queue.takeExhausted()) this.#record(r, { outcome: 'deferred' });
    while (this.#inFlight.size < this.#deps.config.sendConcurrency) {
      const now = clock();
      const actionAt = this.#actions.size ? this.pacer.slotAt(ACTION_SLOT, null) : Number.POSITIVE_INFINITY;
      if (actionAt <= now && this.#actionTurn) {
        this.#startAction();
        continue;
      }
      const p = this.#queue.pick((c, rate) => this.pacer.slotAt(c, rate), now);
      if (!p.row && actionAt <= now) {
        this.#startAction();
        continue;
      }
      if (!p.row) {
        const at = Math.min(p.at, actionAt);
        if (Number.isFinite(at)) this.#armTimer(at - now);
        else if (!this.#queue.size) this.#idle = true;
        break;
      }
      this.#actionTurn = true;
      if (this.#needsPeer(p.row)) {
        // Back to the head of its campaign until its peer is known (the lookup pumps again).
        this.#queue.putBack(p.row);
        this.#prepare(p.row);
        break;
      }
      this.pacer.take(p.row.campaign_id, p.rate, !this.#idle);
      this.#idle = false;
      const sending = this.#send(p.row).finally(() => {
        this.#inFlight.delete(sending);
        this.#pump();
      });
      this.#inFlight.add(sending);
    }
    if (this.#queue.size < bufferTarget(this.pacer.ratePerMinute, this.#deps.config.lookaheadSeconds).low) {
      this.#deps.hungry(this.id);
    }
  }

  /** The next action takes the account's slot (sends wait, as for another campaign's send). */
  #startAction(): void {
    const row = this.#actions.next()!;
    this.pacer.take(ACTION_SLOT, null, !this.#idle);
    this.#idle = false;
    this.#actionTurn = false;
    const running = this.#actions.run(row).finally(() => {
      this.#inFlight.delete(running);
      this.#pump();
    });
    this.#inFlight.add(running);
  }

  #armTimer(ms: number): void {
    const at = Date.now() + ms;
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    // A timer sleeps 1 ms at least; a sub-millisecond wait yields to I/O once instead.
    const fire = () => {
      this.#timer = null;
      this.#pump();
    };
    this.#timer = ms < 1 ? (setImmediate(fire) as unknown as NodeJS.Timeout) : setTimeout(fire, ms);
  }

  #needsPeer(row: db.ClaimRow): boolean {
    return !this.#knownPeer(row);
  }

  /**
   * Resolves the row's peer before it takes a send slot, so what Telegram sees keeps the pace;
   * up to sendConcurrency lookups at once. A failed lookup is the delivery's outcome.
   */
  #prepare(row: db.ClaimRow): void {
    const key = row.channel_id ?? row.peer;
    if (this.#resolving.has(key) || this.#resolving.size >= this.#deps.config.sendConcurrency) return;
    const p = this.#resolve(row).then(
      () => {},
      async (err: unknown) => {
        if (this.#queue.remove(row)) await this.#failed(row, classify(err));
      },
    ).finally(() => {
      this.#resolving.delete(key);
      for (const r of this.#queue.rows()) {
        if (this.#resolving.size >= this.#deps.config.sendConcurrency) break;
        if (this.#needsPeer(r)) this.#prepare(r);
      }
      this.#pump();
    });
    this.#resolving.set(key, p);
  }

  async #send(row: db.ClaimRow): Promise<void> {
    const { metrics } = this.#deps;
    const t0 = performance.now();
    try {
      // Known before the slot was taken (#prepare), so the request leaves in the slot's own tick.
      const peer = this.#knownPeer(row) ?? (await this.#resolve(row));
      const answer = await this.#post(row, peer);
      this.lastSentAt = Date.now();
      this.#duplicates.delete(row.delivery_id);
      this.#queue.settle(row.campaign_id, false);
      this.#record(row, { outcome: 'sent', messageId: answer.messageId });
    } catch (err) {
      if (!(err instanceof NotCleared)) return await this.#failed(row, classify(err));
      this.#queue.settle(row.campaign_id, false);
      this.#record(row, { outcome: 'deferred' });
    } finally {
      metrics.sendLatency.observe({ account: this.id }, (performance.now() - t0) / 1000);
    }
  }

  /**
   * One message to Telegram (SendMessage, or SendMedia with the campaign's upload). An upload
   * Telegram no longer takes is replaced and the send repeated with the same random_id, without
   * spending an attempt. A delivery's send starts only while its campaign is cleared: the last
   * check, made once the upload is there, right before the request goes to GramJS.
   */
  async #post(row: db.ClaimRow, peer: ResolvedPeer): Promise<{ messageId: number }> {
    let pending = this.media.ref(row);
    for (let refreshed = false;; refreshed = true) {
      const media = await pending;
      if (row.action === 'send' && !this.#queue.cleared(row.campaign_id, clock())) throw new NotCleared();
      try {
        return await withTimeout(
          this.#gateway!.send({
            peer,
            text: row.message_text,
            parseMode: row.parse_mode,
            silent: row.silent,
            linkPreview: row.link_preview,
            randomId: row.random_id,
            media,
          }),
          this.#deps.config.sendTimeoutMs,
          media ? 'SendMedia' : 'SendMessage',
        );
      } catch (err) {
        if (!media || refreshed || !isStaleMedia(err)) throw err;
        this.#deps.log.info(
          { accountId: this.id, campaignId: row.campaign_id },
          'file reference refused by Telegram: uploading again',
        );
        pending = this.media.refresh(row, media);
      }
    }
  }

  /**
   * A test send: one slot of the account's pace, to its Saved Messages or the named channel;
   * its outcome is the test's, never a delivery's. The slot is booked before the wait, so tests
   * asked together go out one slot apart; just before sending, the account must still be sending
   * and the test younger than TEST_TTL_MS (else it is recorded expired, never sent). A FLOOD_WAIT
   * answer stops the account as usual.
   */
  async #test(row: db.ClaimRow): Promise<void> {
    const fail = (code: string, message: string) =>
      this.#record(row, { outcome: 'failed', errorCode: code, errorMessage: message }, true);
    const expiresAt = (row.asked_at ?? clock()) + TEST_TTL_MS;
    const expired = () => fail('TEST_EXPIRED', 'its slot came more than 60 s after it was asked for: not sent');
    if (row.reason === 'expired') return expired();
    if (this.status !== 'running') return fail('ACCOUNT_NOT_SENDING', `the account is ${this.statusReason ?? this.status}`);
    const at = this.pacer.slotAt(TEST_SLOT, null);
    if (at > expiresAt) return expired();
    this.pacer.take(TEST_SLOT, null, !this.#idle, at);
    if (at > clock()) await sleep(at - clock());
    if (this.status !== 'running') return fail('ACCOUNT_NOT_SENDING', `the account is ${this.statusReason ?? this.status}`);
    if (clock() > expiresAt) return expired();
    try {
      const peer = row.peer === 'me' ? SAVED_MESSAGES : this.#knownPeer(row) ?? (await this.#resolve(row));
      const answer = await this.#post(row, peer);
      this.#record(row, { outcome: 'sent', messageId: answer.messageId }, true);
    } catch (err) {
      const c = classify(err);
      if (c.kind === 'flood_wait') this.#flood(Date.now() + c.seconds * 1000, c.seconds);
      fail(c.code, c.message);
    }
  }

  /**
   * The peer as this account resolved it: from its own cache (worker_take reads the account's,
   * never another account's hash: core.telegram.org/api/peers, "Access hash") or this process's.
   * One without a hash (not yet resolved by this account) is resolved first, never sent with 0.
   */
  #knownPeer(row: PeerRow): ResolvedPeer | undefined {
    const cached = row.telegram_id ? { telegramId: row.telegram_id, accessHash: row.access_hash } : undefined;
    return cached && usable(cached) ? cached : this.#peers.get(row.channel_id ?? row.peer);
  }

  /** Looks the peer up once per account and has the recorder keep it in the account's cache. */
  async #resolve(row: PeerRow): Promise<ResolvedPeer> {
    const key = row.channel_id ?? row.peer;
    let p = this.#peers.get(key);
    if (!p) {
      p = await withTimeout(this.#gateway!.resolvePeer(row.peer), this.#deps.config.sendTimeoutMs, 'peer resolution');
      if (!usable(p)) {
        throw Object.assign(new Error(`${row.peer} resolved without an access hash: this account cannot send to it`), {
          errorMessage: 'PEER_ID_INVALID',
          code: 400,
        });
      }
      this.#peers.set(key, p);
      if (row.channel_id) {
        this.#deps.recorder.peer({
          accountId: this.id,
          channelId: row.channel_id,
          telegramId: p.telegramId,
          accessHash: p.accessHash,
        });
      }
    }
    return p;
  }

  async #failed(row: db.ClaimRow, c: Classified): Promise<void> {
    // An unknown outcome while Telegram cannot be reached is not an attempt: the delivery waits.
    const reachable = c.kind === 'transient' && c.unknown ? await this.#reach!.check(`${c.code}: ${c.message}`) : true;
    const n = c.kind === 'in_flight' ? (this.#duplicates.get(row.delivery_id) ?? 0) + 1 : 0;
    if (n) this.#duplicates.set(row.delivery_id, n);
    const o = outcomeOf(c, { attempts: row.attempts, reachable, duplicates: n, config: this.#deps.config });
    this.#queue.settle(row.campaign_id, o.outcome === 'failed');
    this.#telegramStopped(c);
    if ('retryAt' in o) this.#deps.wake(this.id, Date.parse(o.retryAt));
    this.#record(row, o);
  }

  /** A FLOOD_WAIT waits it out; an account Telegram stopped sends no more until its owner resumes. */
  #telegramStopped(c: Classified): void {
    if (c.kind === 'flood_wait') this.#flood(Date.now() + c.seconds * 1000, c.seconds);
    if (c.kind === 'account' && this.status !== 'account_stopped') {
      this.#recordStop(c);
      this.pacer.block(Number.POSITIVE_INFINITY);
      this.setStatus(c.status === 'revoked' ? 'session_lost' : 'account_stopped', `${c.code}: ${c.message}`);
      this.#deps.log.error({ accountId: this.id, status: c.status }, 'account stopped by Telegram; campaigns paused');
      this.#releaseAll();
    }
  }

  /** FLOOD_WAIT until `until`: no sends, rows back, campaigns paused by the recorder (seconds given). */
  #flood(until: number, seconds?: number): void {
    if (until <= this.#floodUntil) return;
    this.#floodUntil = until;
    this.pacer.block(until);
    if (this.status === 'running') this.setStatus('flood_wait', `FLOOD_WAIT until ${new Date(until).toISOString()}`);
    setTimeout(() => this.#floodOver(), until - Date.now()).unref();
    if (seconds !== undefined) {
      this.#deps.metrics.floodWaits.inc({ account: this.id });
      this.#deps.recorder.event({ kind: 'flood', accountId: this.id, seconds });
      this.#deps.log.warn({ accountId: this.id, seconds }, 'FLOOD_WAIT: campaigns paused until it ends');
    }
    this.#releaseAll();
  }

  #floodOver(): void {
    if (this.status !== 'flood_wait' || this.#floodUntil > Date.now()) return;
    this.setStatus('running');
    this.#deps.wake(this.id);
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

  #recordAction(row: ActionRow, result: ActionResult): void {
    this.#deps.metrics.outcomes.inc({ account: this.id, outcome: `action_${result.outcome}` });
    if (result.retryAt) this.#deps.wake(this.id, Date.parse(result.retryAt));
    this.#deps.recorder.add({
      ...result,
      deliveryId: row.delivery_id,
      jobId: row.job_id,
      accountId: this.id,
      campaignId: row.campaign_id,
      actionId: row.action_id,
    } as db.Outcome);
  }

  #record(row: db.ClaimRow, o: RowOutcome, test = false): void {
    this.#deps.metrics.outcomes.inc({ account: this.id, outcome: test ? `test_${o.outcome}` : o.outcome });
    const mediaRef = row.media_path ? this.media.takeUnstored(row.campaign_id) : undefined;
    this.#deps.recorder.add({
      ...o,
      deliveryId: row.delivery_id,
      jobId: row.job_id,
      accountId: this.id,
      campaignId: row.campaign_id,
      ...(test && { test }),
      ...(mediaRef && { mediaRef }),
    } as db.Outcome);
  }
}
