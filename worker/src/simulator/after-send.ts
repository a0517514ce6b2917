// The simulator's answers to what is done to a posted message: messages.editMessage,
// channels.deleteMessages / messages.deleteMessages and messages.updatePinnedMessage. The store
// decides (and logs what was carried out, so a test sees every edit); the answers are the TL
// results GramJS expects.
import { Api } from 'telegram';
import type { MessageStore, PostAction } from './store.ts';

type Fail = (code: number, message: string) => never;

export type AfterSendRequest =
  | Api.messages.EditMessage
  | Api.channels.DeleteMessages
  | Api.messages.DeleteMessages
  | Api.messages.UpdatePinnedMessage;

export function isAfterSend(r: Api.AnyRequest): r is AfterSendRequest {
  return r instanceof Api.messages.EditMessage || r instanceof Api.channels.DeleteMessages ||
    r instanceof Api.messages.DeleteMessages || r instanceof Api.messages.UpdatePinnedMessage;
}

/** The chat id the simulator keys a channel's messages by (messages.deleteMessages has no peer: private chats, none here). */
function chatOf(r: AfterSendRequest): string {
  const peer: unknown = r instanceof Api.channels.DeleteMessages ? r.channel : 'peer' in r ? r.peer : undefined;
  return peer instanceof Api.InputPeerChannel || peer instanceof Api.InputChannel ? String(peer.channelId) : '';
}

export async function answerAfterSend(
  store: MessageStore,
  accountId: string,
  r: AfterSendRequest,
  fail: Fail,
  /** An edit's new file, checked as a send's (its kind, or the refusal). */
  checkMedia: (m: Api.TypeInputMedia) => string,
): Promise<unknown> {
  const chatId = chatOf(r);
  if (!chatId) fail(400, 'PEER_ID_INVALID');
  const ids = r instanceof Api.channels.DeleteMessages || r instanceof Api.messages.DeleteMessages ? r.id : [r.id];
  const action: PostAction = r instanceof Api.messages.EditMessage
    ? { kind: 'edit', text: r.message ?? '', ...(r.media && { media: checkMedia(r.media) }) }
    : r instanceof Api.messages.UpdatePinnedMessage
    ? { kind: r.unpin ? 'unpin' : 'pin' }
    : { kind: 'delete' };
  for (const id of ids) {
    const answer = await store.act(accountId, chatId, id, action);
    if (answer) fail(400, answer);
  }
  if (action.kind === 'delete') return new Api.messages.AffectedMessages({ pts: 1, ptsCount: ids.length });
  return new Api.Updates({ updates: [], users: [], chats: [], date: Math.floor(Date.now() / 1000), seq: 0 });
}
