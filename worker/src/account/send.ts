// The send of one delivery, once its slot has come: its peer, the post, the outcome.
import type * as db from '../db.ts';
import { classify } from '../errors.ts';
import { type AccountContext, record } from './context.ts';
import type { Failures } from './failures.ts';
import type { AccountPeers } from './peers.ts';
import { NotCleared, post } from './post.ts';

export interface SendParts {
  ctx: AccountContext;
  peers: AccountPeers;
  failures: Failures;
  /** Telegram took the message (the account's last send). */
  sent(): void;
}

export async function sendDelivery(s: SendParts, row: db.ClaimRow): Promise<void> {
  const { ctx } = s;
  const t0 = performance.now();
  try {
    // Known before the slot was taken (AccountPeers.prepare), so the request leaves in the slot's own tick.
    const peer = s.peers.known(row) ?? (await s.peers.resolve(row));
    const answer = await post(ctx, row, peer);
    s.sent();
    s.failures.sent(row);
    ctx.queue.settle(row.campaign_id, false);
    record(ctx, row, { outcome: 'sent', messageId: answer.messageId });
  } catch (err) {
    if (!(err instanceof NotCleared)) return await s.failures.failed(row, classify(err));
    ctx.queue.settle(row.campaign_id, false);
    record(ctx, row, { outcome: 'deferred' });
  } finally {
    ctx.deps.metrics.sendLatency.observe({ account: ctx.id }, (performance.now() - t0) / 1000);
  }
}
