// One action on a sent post, as a Telegram call, and what its answer means for the action.
import type { AccountContext } from '../account/context.ts';
import { withCampaignFile } from '../account/post.ts';
import { type Classified, retryDelayMs } from '../errors.ts';
import type { ResolvedPeer } from '../gateway/types.ts';
import type { ActionOutcome, ActionRow } from './store.ts';

/**
 * The call: messages.editMessage (with the campaign's file, uploaded once as for its sends: Telegram
 * replaces the post's media when it differs), channels/messages.deleteMessages,
 * messages.updatePinnedMessage.
 */
export async function perform(ctx: AccountContext, row: ActionRow, peer: ResolvedPeer): Promise<void> {
  const messageId = Number(row.message_id);
  const gateway = ctx.gateway();
  switch (row.action) {
    case 'edit':
      return withCampaignFile(ctx, row, (media) =>
        gateway.editMessage({
          peer,
          messageId,
          text: row.message_text,
          parseMode: row.parse_mode,
          linkPreview: row.link_preview,
          media,
        }));
    case 'delete':
      return gateway.deleteMessage(peer, messageId);
    case 'pin':
    case 'unpin':
      return gateway.pinMessage(peer, messageId, { silent: row.silent, unpin: row.action === 'unpin' });
    case 'skip': // recorded when claimed, never run
  }
}

/**
 * The post already reads so: an edit repeated after a crash (or of a send that went out with the
 * new text) is done, not failed (core.telegram.org/method/messages.editMessage).
 */
const ALREADY_DONE = new Set(['MESSAGE_NOT_MODIFIED']);

/**
 * What a failed call means. Every action is idempotent (an edit to the same text, a delete of a
 * deleted post, a pin of a pinned one change nothing), so an unknown outcome is simply retried;
 * a refusal about the post (MESSAGE_EDIT_TIME_EXPIRED, MESSAGE_ID_INVALID for a post the channel
 * deleted, missing rights) is that post's failure, reported and not retried. FLOOD_WAIT and an
 * account stopped by Telegram defer the action (the account's campaigns pause).
 */
export function actionOutcome(
  c: Classified,
  attempts: number,
  config: { retryBaseSeconds: number; retryJitter: number },
): Omit<ActionOutcome, 'actionId' | 'jobId' | 'accountId'> {
  const error = { errorCode: c.code, errorMessage: c.message };
  if (ALREADY_DONE.has(c.code)) return { outcome: 'done' };
  switch (c.kind) {
    case 'flood_wait':
    case 'account':
      return { outcome: 'deferred', ...error };
    case 'permanent':
      return { outcome: 'failed', ...error };
    default: {
      const wait = 'seconds' in c ? c.seconds * 1000 : retryDelayMs(attempts + 1, config.retryBaseSeconds, config.retryJitter);
      if (wait === null) return { outcome: 'failed', ...error };
      return { outcome: 'retry', retryAt: new Date(Date.now() + wait).toISOString(), ...error };
    }
  }
}
