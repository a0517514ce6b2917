// The peers one account sends to, as this account resolved them: Telegram gives every account
// its own access hash (core.telegram.org/api/peers, "Access hash"). Peers are resolved before a
// send takes its slot, so what Telegram sees keeps the pace.
import type * as db from '../db.ts';
import { withTimeout } from '../errors.ts';
import type { ResolvedPeer } from '../gateway/types.ts';
import type { AccountContext } from './context.ts';

/**
 * A peer a user account can send to: a channel or user needs the access hash this account was
 * given (0 is valid for bots only); a basic group's marked id (-<id>, not -100<id>) needs none.
 */
function usable(p: ResolvedPeer): boolean {
  return p.accessHash !== null || (p.telegramId.startsWith('-') && !p.telegramId.startsWith('-100'));
}

/** What a lookup reads of a claimed row (a delivery's, or an action's on its post). */
export type PeerRow = Pick<db.ClaimRow, 'telegram_id' | 'access_hash' | 'channel_id' | 'peer'>;

export interface PeerHooks {
  /** A lookup for a queued row failed: that is the delivery's outcome. */
  unresolved(row: db.ClaimRow, err: unknown): Promise<void>;
  /** A lookup finished: rows waiting for it may take their slot. */
  resolved(): void;
}

export class AccountPeers {
  readonly #ctx: AccountContext;
  readonly #hooks: PeerHooks;
  readonly #peers = new Map<string, ResolvedPeer>();
  readonly #resolving = new Map<string, Promise<void>>();

  constructor(ctx: AccountContext, hooks: PeerHooks) {
    this.#ctx = ctx;
    this.#hooks = hooks;
  }

  /**
   * The peer as this account resolved it: from its own cache (worker_take reads the account's,
   * never another account's hash) or this process's. One without a hash (not yet resolved by
   * this account) is resolved first, never sent with 0.
   */
  known(row: PeerRow): ResolvedPeer | undefined {
    const cached = row.telegram_id ? { telegramId: row.telegram_id, accessHash: row.access_hash } : undefined;
    return cached && usable(cached) ? cached : this.#peers.get(row.channel_id ?? row.peer);
  }

  needs(row: db.ClaimRow): boolean {
    return !this.known(row);
  }

  /**
   * Resolves a queued row's peer ahead of its slot; up to sendConcurrency lookups at once, then
   * the next queued rows that need one.
   */
  prepare(row: db.ClaimRow): void {
    const { queue, deps } = this.#ctx;
    const key = row.channel_id ?? row.peer;
    if (this.#resolving.has(key) || this.#resolving.size >= deps.config.sendConcurrency) return;
    const p = this.resolve(row).then(
      () => {},
      (err: unknown) => this.#hooks.unresolved(row, err),
    ).finally(() => {
      this.#resolving.delete(key);
      for (const r of queue.rows()) {
        if (this.#resolving.size >= deps.config.sendConcurrency) break;
        if (this.needs(r)) this.prepare(r);
      }
      this.#hooks.resolved();
    });
    this.#resolving.set(key, p);
  }

  /** Looks the peer up once per account and has the recorder keep it in the account's cache. */
  async resolve(row: PeerRow): Promise<ResolvedPeer> {
    const { deps, id } = this.#ctx;
    const key = row.channel_id ?? row.peer;
    let p = this.#peers.get(key);
    if (!p) {
      p = await withTimeout(this.#ctx.gateway().resolvePeer(row.peer), deps.config.sendTimeoutMs, 'peer resolution');
      if (!usable(p)) {
        throw Object.assign(new Error(`${row.peer} resolved without an access hash: this account cannot send to it`), {
          errorMessage: 'PEER_ID_INVALID',
          code: 400,
        });
      }
      this.#peers.set(key, p);
      if (row.channel_id) {
        deps.recorder.peer({ accountId: id, channelId: row.channel_id, telegramId: p.telegramId, accessHash: p.accessHash });
      }
    }
    return p;
  }
}
