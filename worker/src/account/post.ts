// One message to Telegram for a claimed row (SendMessage, or SendMedia with the campaign's
// upload), the same for a delivery and a test send.
import type * as db from '../db.ts';
import { isStaleMedia, withTimeout } from '../errors.ts';
import type { ResolvedPeer } from '../gateway/types.ts';
import { clock } from '../pacing.ts';
import type { AccountContext } from './context.ts';

/** A send whose campaign's clearance ran out before it could start: it goes back unsent. */
export class NotCleared extends Error {}

/**
 * Posts `row` to `peer`. An upload Telegram no longer takes is replaced and the send repeated
 * with the same random_id, without spending an attempt. A delivery's send starts only while its
 * campaign is cleared: the last check, made once the upload is there, right before the request
 * goes to GramJS.
 */
export async function post(ctx: AccountContext, row: db.ClaimRow, peer: ResolvedPeer): Promise<{ messageId: number }> {
  let pending = ctx.media.ref(row);
  for (let refreshed = false;; refreshed = true) {
    const media = await pending;
    if (row.action === 'send' && !ctx.queue.cleared(row.campaign_id, clock())) throw new NotCleared();
    try {
      return await withTimeout(
        ctx.gateway().send({
          peer,
          text: row.message_text,
          parseMode: row.parse_mode,
          silent: row.silent,
          linkPreview: row.link_preview,
          randomId: row.random_id,
          media,
        }),
        ctx.deps.config.sendTimeoutMs,
        media ? 'SendMedia' : 'SendMessage',
      );
    } catch (err) {
      if (!media || refreshed || !isStaleMedia(err)) throw err;
      ctx.deps.log.info(
        { accountId: ctx.id, campaignId: row.campaign_id },
        'file reference refused by Telegram: uploading again',
      );
      pending = ctx.media.refresh(row, media);
    }
  }
}
