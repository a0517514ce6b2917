// One message to Telegram for a claimed row (SendMessage, or SendMedia with the campaign's
// upload), the same for a delivery and a test send; and any call that carries the campaign's file.
import type * as db from '../db.ts';
import { isStaleMedia, withTimeout } from '../errors.ts';
import type { MediaRef, ResolvedPeer } from '../gateway/types.ts';
import { clock } from '../pacing.ts';
import type { AccountContext } from './context.ts';
import type { CampaignFile } from './media.ts';

/** A send whose campaign's clearance ran out before it could start: it goes back unsent. */
export class NotCleared extends Error {}

/**
 * Runs `call` with the row's upload (none for a text message). An upload Telegram no longer takes
 * is replaced and the call made once more, without spending an attempt (a send repeats its
 * random_id; an edit to the same file changes nothing twice).
 */
export async function withCampaignFile<T>(
  ctx: AccountContext,
  row: CampaignFile,
  call: (media: MediaRef | undefined) => Promise<T>,
): Promise<T> {
  let pending = ctx.media.ref(row);
  for (let refreshed = false;; refreshed = true) {
    const media = await pending;
    try {
      return await call(media);
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

/**
 * Posts `row` to `peer`. A delivery's send starts only while its campaign is cleared: the last
 * check, made once the upload is there, right before the request goes to GramJS.
 */
export function post(ctx: AccountContext, row: db.ClaimRow, peer: ResolvedPeer): Promise<{ messageId: number }> {
  return withCampaignFile(ctx, row, (media) => {
    if (row.action === 'send' && !ctx.queue.cleared(row.campaign_id, clock())) throw new NotCleared();
    return withTimeout(
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
  });
}
