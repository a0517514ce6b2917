// The model's data as TL objects, as one account sees them: access hashes are the viewer's own
// (core.telegram.org/api/peers), `self`, `creator`, `left` and admin rights are relative to it.
import { Api } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import type { TelegramModel } from '../model/model.ts';
import type { Account, Channel, StoredMessage } from '../model/state.ts';
import { mediaView } from './media-views.ts';

export const big = (x: bigint) => returnBigInt(x.toString());
export const native = (x: { toString(): string }) => BigInt(x.toString());

export function userView(model: TelegramModel, viewer: Account, user: Account): Api.User {
  const self = viewer.id === user.id;
  return new Api.User({
    id: big(user.id),
    self,
    accessHash: big(model.accessHash(viewer, 'user', user.id)),
    firstName: user.firstName,
    lastName: user.lastName || undefined,
    username: user.username,
    phone: self ? user.phone : undefined,
    // bot and bot_info_version share flags.14 (core.telegram.org/constructor/user).
    bot: user.bot || undefined,
    botInfoVersion: user.bot ? 1 : undefined,
  });
}

export function channelView(model: TelegramModel, viewer: Account, ch: Channel): Api.Channel {
  const rights = ch.creatorId === viewer.id ? undefined : ch.admins.get(viewer.id);
  return new Api.Channel({
    id: big(ch.id),
    accessHash: big(model.accessHash(viewer, 'channel', ch.id)),
    title: ch.title,
    username: ch.username,
    photo: new Api.ChatPhotoEmpty(),
    date: ch.date,
    broadcast: ch.broadcast || undefined,
    megagroup: !ch.broadcast || undefined,
    creator: ch.creatorId === viewer.id || undefined,
    left: !ch.members.has(viewer.id) || undefined,
    adminRights: rights && new Api.ChatAdminRights(rights),
    participantsCount: ch.members.size,
  });
}

/** A channel post: broadcast posts carry no sender (post flag); supergroup messages name theirs. */
export function messageView(viewer: Account, ch: Channel, m: StoredMessage): Api.Message {
  return new Api.Message({
    id: m.id,
    out: m.fromId === viewer.id || undefined,
    post: ch.broadcast || undefined,
    peerId: new Api.PeerChannel({ channelId: big(ch.id) }),
    fromId: ch.broadcast ? undefined : new Api.PeerUser({ userId: big(m.fromId) }),
    date: m.date,
    message: m.text,
    media: m.media && mediaView(m.media),
    editDate: m.editDate,
    pinned: m.pinned || undefined,
    // Channel posts carry views and forwards (core.telegram.org/constructor/message).
    views: ch.broadcast ? m.views ?? 0 : undefined,
    forwards: ch.broadcast ? m.forwards ?? 0 : undefined,
  });
}

/** An updates container about one channel, as answers to channel methods are. */
export function channelUpdates(model: TelegramModel, viewer: Account, ch: Channel, updates: Api.TypeUpdate[]): Api.Updates {
  return new Api.Updates({
    updates,
    users: [userView(model, viewer, viewer)],
    chats: [channelView(model, viewer, ch)],
    date: Math.floor(model.now() / 1000),
    seq: 0,
  });
}
