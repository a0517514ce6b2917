// Users and basic groups as targets, and the methods that build them (contacts.importContacts,
// messages.createChat, contacts.block), bots' sign-in, and channels.getChannels.
import { Api } from 'telegram';
import type { BoxEntry, BoxPeer } from '../../model/boxes.ts';
import { badRequest } from '../../model/errors.ts';
import type { Account } from '../../model/state.ts';
import type { InviteRule } from '../../model/privacy.ts';
import type { BasicGroup } from '../../model/targets.ts';
import { big, channelView, native, userView } from '../views.ts';
import { mediaView } from '../media-views.ts';
import { inputChannel, inputUser } from './inputs.ts';
import { type MethodContext, type Methods, tlBool } from './registry.ts';

export function chatView(viewer: Account, chat: BasicGroup): Api.Chat {
  return new Api.Chat({
    id: big(chat.id),
    title: chat.title,
    photo: new Api.ChatPhotoEmpty(),
    participantsCount: chat.members.size,
    date: chat.date,
    version: 1,
    creator: chat.creatorId === viewer.id || undefined,
    left: !chat.members.has(viewer.id) || undefined,
  });
}

const peerOf = (p: BoxPeer): Api.TypePeer =>
  p.kind === 'user' ? new Api.PeerUser({ userId: big(p.id) }) : new Api.PeerChat({ chatId: big(p.id) });

/** A private chat or basic group message as the owner of `e`'s box sees it. */
export function boxMessageView(viewer: Account, e: BoxEntry): Api.Message {
  return new Api.Message({
    id: e.id,
    out: e.post.fromId === viewer.id || undefined,
    peerId: peerOf(e.peer),
    fromId: e.peer.kind === 'chat' ? new Api.PeerUser({ userId: big(e.post.fromId) }) : undefined,
    date: e.post.date,
    message: e.post.text,
    media: e.post.media && mediaView(e.post.media),
    editDate: e.post.editDate,
    pinned: e.post.pinned || undefined,
  });
}

/**
 * The chat an InputPeer names, when it is a user or a basic group: a user needs this account's
 * access hash (core.telegram.org/api/peers), a basic group only its id. Undefined for channels.
 */
export function boxPeer(ctx: MethodContext, me: Account, peer: unknown): BoxPeer | undefined {
  if (peer instanceof Api.InputPeerSelf) return { kind: 'user', id: me.id };
  if (peer instanceof Api.InputPeerUser) return { kind: 'user', id: inputUser(ctx, me, peer).id };
  if (peer instanceof Api.InputPeerChat) return { kind: 'chat', id: ctx.model.targets.chat(me, native(peer.chatId)).id };
  return undefined;
}

/** The users and chats an answer about `peer` carries, each as `me` sees it. */
function entities(ctx: MethodContext, me: Account, peer: BoxPeer): { users: Api.User[]; chats: Api.Chat[] } {
  const users = [userView(ctx.model, me, me)];
  if (peer.kind === 'chat') return { users, chats: [chatView(me, ctx.model.targets.chat(me, peer.id))] };
  const other = ctx.model.accounts.byUserId(peer.id);
  if (other && other.id !== me.id) users.push(userView(ctx.model, me, other));
  return { users, chats: [] };
}

export function boxUpdates(ctx: MethodContext, me: Account, peer: BoxPeer, updates: Api.TypeUpdate[]): Api.Updates {
  return new Api.Updates({ updates, ...entities(ctx, me, peer), date: Math.floor(ctx.model.now() / 1000), seq: 0 });
}

/** messages.sendMessage to a user or a basic group: answered like a channel send, with the box's pts. */
export async function sendToBox(ctx: MethodContext, me: Account, peer: BoxPeer, req: Api.messages.SendMessage) {
  const randomId = req.randomId ?? badRequest('RANDOM_ID_INVALID');
  const { entry } = await ctx.model.targets.send(me, peer, req.message, native(randomId));
  const pts = ctx.model.targets.boxes.box(me.id).pts;
  return boxUpdates(ctx, me, peer, [
    new Api.UpdateMessageID({ id: entry.id, randomId }),
    new Api.UpdateNewMessage({ message: boxMessageView(me, entry), pts, ptsCount: 1 }),
  ]);
}

export async function historyOfBox(ctx: MethodContext, me: Account, peer: BoxPeer, req: Api.messages.GetHistory) {
  const entries = await ctx.model.targets.history(me, peer, req.offsetId, req.limit);
  return new Api.messages.Messages({ messages: entries.map((e) => boxMessageView(me, e)), ...entities(ctx, me, peer) });
}

async function importContacts(ctx: MethodContext, req: Api.contacts.ImportContacts) {
  const me = ctx.account();
  const contacts = req.contacts.filter((c): c is Api.InputPhoneContact => c instanceof Api.InputPhoneContact);
  const found = await ctx.model.targets.importContacts(me, contacts.map((c) => c.phone));
  const clientId = (u: Account) => contacts.find((c) => ctx.model.accounts.withPhone(c.phone) === u)!.clientId;
  return new Api.contacts.ImportedContacts({
    imported: found.map((u) => new Api.ImportedContact({ userId: big(u.id), clientId: clientId(u) })),
    popularInvites: [],
    retryContacts: [],
    users: found.map((u) => userView(ctx.model, me, u)),
  });
}

/** Users privacy kept out of a chat (core.telegram.org/constructor/missingInvitee). */
export const missingInvitees = (users: Account[]) => users.map((u) => new Api.MissingInvitee({ userId: big(u.id) }));

async function createChat(ctx: MethodContext, req: Api.messages.CreateChat) {
  const me = ctx.account();
  const { chat, missing } = await ctx.model.targets.createChat(me, req.title, req.users.map((u) => inputUser(ctx, me, u)));
  const updates = boxUpdates(ctx, me, { kind: 'chat', id: chat.id }, []);
  return new Api.messages.InvitedUsers({ updates, missingInvitees: missingInvitees(missing) });
}

/** account.setPrivacy for inputPrivacyKeyChatInvite: allow all, contacts, or nobody (core.telegram.org/api/privacy). */
function inviteRule(rules: Api.TypeInputPrivacyRule[]): InviteRule {
  const first = rules.find((r) =>
    r instanceof Api.InputPrivacyValueAllowAll || r instanceof Api.InputPrivacyValueAllowContacts ||
    r instanceof Api.InputPrivacyValueDisallowAll
  );
  return first instanceof Api.InputPrivacyValueAllowAll
    ? 'everybody'
    : first instanceof Api.InputPrivacyValueAllowContacts
    ? 'contacts'
    : 'nobody';
}

const PRIVACY_RULE = {
  everybody: () => new Api.PrivacyValueAllowAll(),
  contacts: () => new Api.PrivacyValueAllowContacts(),
  nobody: () => new Api.PrivacyValueDisallowAll(),
};

/** Runs an action on a basic group by id; the answer carries the group as the caller now sees it. */
async function onChat(ctx: MethodContext, chatId: unknown, act: (me: Account, chat: BasicGroup) => Promise<void>) {
  const me = ctx.account();
  const chat = ctx.model.targets.chat(me, native(chatId as { toString(): string }));
  await act(me, chat);
  return boxUpdates(ctx, me, { kind: 'chat', id: chat.id }, []);
}

export function targetMethods(m: Methods): Methods {
  return m
    .on(Api.contacts.ImportContacts, importContacts)
    .on(Api.contacts.Block, async (ctx, req) => {
      const me = ctx.account();
      ctx.model.targets.setBlocked(me, inputUser(ctx, me, req.id), true);
      return tlBool(true);
    })
    .on(Api.contacts.Unblock, async (ctx, req) => {
      const me = ctx.account();
      ctx.model.targets.setBlocked(me, inputUser(ctx, me, req.id), false);
      return tlBool(true);
    })
    .on(Api.messages.CreateChat, createChat)
    .on(Api.account.SetPrivacy, async (ctx, req) => {
      // Only who may invite the account to chats is modelled.
      if (!(req.key instanceof Api.InputPrivacyKeyChatInvite)) badRequest('PRIVACY_KEY_INVALID');
      const rule = inviteRule(req.rules);
      ctx.model.targets.privacy.setInviteRule(ctx.account(), rule);
      return new Api.account.PrivacyRules({ rules: [PRIVACY_RULE[rule]()], chats: [], users: [] });
    })
    .on(Api.account.SetGlobalPrivacySettings, async (ctx, req) => {
      const on = !!req.settings.newNoncontactPeersRequirePremium;
      ctx.model.targets.privacy.setPremiumFromStrangers(ctx.account(), on);
      return new Api.GlobalPrivacySettings({ newNoncontactPeersRequirePremium: on || undefined });
    })
    .on(Api.messages.AddChatUser, async (ctx, req) => {
      const add = (me: Account, chat: BasicGroup) => ctx.model.targets.addChatUser(me, chat, inputUser(ctx, me, req.userId));
      return new Api.messages.InvitedUsers({ updates: await onChat(ctx, req.chatId, add), missingInvitees: [] });
    })
    .on(
      Api.messages.DeleteChatUser,
      (ctx, req) =>
        onChat(ctx, req.chatId, (me, chat) => ctx.model.targets.deleteChatUser(me, chat, inputUser(ctx, me, req.userId))),
    )
    .on(Api.channels.GetChannels, async (ctx, req) => {
      const me = ctx.account();
      await ctx.model.faults.apply('channels.getChannels');
      return new Api.messages.Chats({ chats: req.id.map((c) => channelView(ctx.model, me, inputChannel(ctx, me, c))) });
    })
    .on(Api.auth.ImportBotAuthorization, async (ctx, req) => {
      // Checked like auth.sendCode's app (core.telegram.org/method/auth.importBotAuthorization: API_ID_INVALID).
      if (req.apiId !== ctx.apiId || req.apiHash !== ctx.apiHash) badRequest('API_ID_INVALID');
      await ctx.model.faults.apply('auth.importBotAuthorization');
      const bot = ctx.model.accounts.importBot(ctx.keyId, req.botAuthToken);
      return new Api.auth.Authorization({ user: userView(ctx.model, bot, bot) });
    });
}
