// Saved Messages: an account's private chat with itself ("Saved Messages", core.telegram.org/api/saved-messages),
// named by inputPeerSelf. messages.sendMessage to it is a private chat's send (targets.ts, one copy
// in the account's own box); messages.sendMedia to it stores the caption with the photo or
// document, uploaded or an existing one by reference (core.telegram.org/method/messages.sendMedia,
// core.telegram.org/api/files), once per random_id like any send (messages.ts). Media in messages
// to other users is not modelled.
import type { BoxPeer } from './boxes.ts';
import type { MediaInput } from './media.ts';
import type { TelegramModel } from './model.ts';
import type { Account } from './state.ts';
import type { BoxSend } from './targets.ts';

/** The chat inputPeerSelf names, as the account's own box holds it. */
export const savedMessagesOf = (me: Account): BoxPeer => ({ kind: 'user', id: me.id });

/**
 * messages.sendMedia to inputPeerSelf: the media checked as for a channel post (media.ts), the
 * account's send limits taken; a caption may be empty (media is the message). Spam restrictions
 * (PEER_FLOOD) concern messages to others, not to oneself.
 */
export function sendMediaToSaved(
  model: TelegramModel,
  me: Account,
  caption: string,
  randomId: bigint,
  media: MediaInput,
  dcId: number,
): Promise<BoxSend> {
  const peer = savedMessagesOf(me);
  return model.targets.randomIds.once(me, peer, randomId, async () => {
    await model.faults.apply('messages.sendMedia', me.username ?? String(me.id));
    const file = model.media.resolve(me, media, dcId);
    model.takeSendLimits(me, `user:${me.id}`);
    return model.targets.boxes.deliver(me.id, [[me.id, peer]], caption, Math.floor(model.now() / 1000), file);
  }).then(({ message, repeated }) => ({ entry: message, repeated }));
}
