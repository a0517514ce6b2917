// The actions an account holds (claimed, waiting for a slot of its pace), and running one: the
// post's peer, the Telegram call under the send timeout, its outcome to the recorder. The account
// decides when (its pump gives actions every other slot while sends wait too); a FLOOD_WAIT or an
// account stopped by Telegram is handed back to it, as a send's would be.
import type { WorkerConfig } from '../config.ts';
import { type Classified, classify, withTimeout } from '../errors.ts';
import type { ResolvedPeer, TelegramGateway } from '../gateway/types.ts';
import { actionOutcome, perform } from './perform.ts';
import type { ActionOutcome, ActionRow } from './store.ts';

/** The pacer's key for actions: they take the account's slots, never a campaign's cap. */
export const ACTION_SLOT = 'actions';

export type ActionResult = Omit<ActionOutcome, 'actionId' | 'jobId' | 'accountId'>;

export interface ActionHost {
  config: Pick<WorkerConfig, 'sendTimeoutMs' | 'retryBaseSeconds' | 'retryJitter'>;
  gateway(): TelegramGateway;
  /** The post's chat as this account knows it (resolved once if need be). */
  peerOf(row: ActionRow): Promise<ResolvedPeer>;
  record(row: ActionRow, result: ActionResult): void;
  /** Telegram answered FLOOD_WAIT or stopped the account: the account acts as after a send. */
  telegramStopped(c: Classified): void;
}

export class AccountActions {
  readonly #host: ActionHost;
  #rows: ActionRow[] = [];

  constructor(host: ActionHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#rows.length;
  }

  /** Claimed rows: skips are recorded at once, the others wait for a slot. */
  add(row: ActionRow): void {
    if (row.action === 'skip') this.#host.record(row, { outcome: 'skip' });
    else this.#rows.push(row);
  }

  next(): ActionRow | undefined {
    return this.#rows.shift();
  }

  /** Every held action goes back unattempted (the account stops or waits). */
  releaseAll(): void {
    for (const row of this.#rows.splice(0)) this.#host.record(row, { outcome: 'deferred' });
  }

  async run(row: ActionRow): Promise<void> {
    const { config } = this.#host;
    try {
      const peer = await this.#host.peerOf(row);
      await withTimeout(perform(this.#host.gateway(), row, peer), config.sendTimeoutMs, row.action);
      this.#host.record(row, { outcome: 'done' });
    } catch (err) {
      const c = classify(err);
      if (c.kind === 'flood_wait' || c.kind === 'account') this.#host.telegramStopped(c);
      this.#host.record(row, actionOutcome(c, row.attempts, config));
    }
  }
}
