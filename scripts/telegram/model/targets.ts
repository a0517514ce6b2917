// Targets other than channels: users (private chats) and basic groups, and the world-building
// methods around them (contacts.importContacts, messages.createChat, contacts.block). Messages live
// in per-account boxes (./boxes.ts); sends share the account's limits with channel sends.
import { type BoxEntry, Boxes, type BoxPeer } from './boxes.ts';
import { badRequest, forbidden } from './errors.ts';
import { RandomIds } from './messages.ts';
import { Privacy } from './privacy.ts';
import type { TelegramModel } from './model.ts';
import type { Account } from './state.ts';

/** A basic group: no access hash ("basic groups do not have or need an access hash", core.telegram.org/api/peers). */
export interface BasicGroup {
  id: bigint;
  title: string;
  creatorId: bigint;
  date: number;
  members: Set<bigint>;
}

export interface BoxSend {
  entry: BoxEntry;
  repeated: boolean;
}

export class Targets {
  readonly boxes = new Boxes();
  readonly privacy = new Privacy();
  private readonly chats = new Map<bigint, BasicGroup>();
  /** blocker → the users it blocked (contacts.block). */
  private readonly blocked = new Map<bigint, Set<bigint>>();
  /** bot → the users who wrote to it first. */
  private readonly started = new Map<bigint, Set<bigint>>();
  /** random_id per (account, chat) of private chats and basic groups (Saved Messages' media sends too). */
  readonly randomIds = new RandomIds<BoxEntry>();
  /** basic group → users who left or were removed: they still name it, and are refused writing. */
  private readonly former = new Map<bigint, Set<bigint>>();
  private nextChatId = 3_000_000n;

  private readonly model: TelegramModel;

  constructor(model: TelegramModel) {
    this.model = model;
  }

  /**
   * contacts.importContacts: the accounts found by phone number, each to be shown with the
   * importer's own access hash (core.telegram.org/method/contacts.importContacts); unknown numbers
   * are simply not imported. Bots may not call it (BOT_METHOD_INVALID, checked at dispatch).
   */
  async importContacts(viewer: Account, phones: string[]): Promise<Account[]> {
    await this.model.faults.apply('contacts.importContacts');
    const found = phones.map((p) => this.model.accounts.withPhone(p)).filter((a): a is Account => !!a);
    const others = found.filter((a) => a.id !== viewer.id);
    this.privacy.addContacts(viewer, others);
    return others;
  }

  /** contacts.block / contacts.unblock (core.telegram.org/api/block). */
  setBlocked(viewer: Account, user: Account, on: boolean): void {
    const set = this.blocked.get(viewer.id) ?? new Set<bigint>();
    this.blocked.set(viewer.id, set);
    if (on) set.add(user.id);
    else set.delete(user.id);
  }

  /**
   * messages.createChat (core.telegram.org/method/messages.createChat): a basic group of the
   * creator and the given users; an empty title is CHAT_TITLE_EMPTY, no other user USERS_TOO_FEW.
   * Users whose privacy forbids the creator to invite them are left out and answered as missing.
   */
  async createChat(creator: Account, title: string, users: Account[]): Promise<{ chat: BasicGroup; missing: Account[] }> {
    await this.model.faults.apply('messages.createChat');
    if (!title.trim()) badRequest('CHAT_TITLE_EMPTY');
    const others = users.filter((u) => u.id !== creator.id);
    if (!others.length) badRequest('USERS_TOO_FEW');
    const date = Math.floor(this.model.now() / 1000);
    const chat = { id: this.nextChatId++, title, creatorId: creator.id, date, members: new Set([creator.id]) };
    const missing = others.filter((u) => !this.privacy.mayInvite(creator, u));
    for (const u of others) if (!missing.includes(u)) chat.members.add(u.id);
    this.chats.set(chat.id, chat);
    return { chat, missing };
  }

  /** An InputPeerChat's id: a chat the account never belonged to is PEER_ID_INVALID. */
  chat(viewer: Account, id: bigint): BasicGroup {
    const chat = this.chats.get(id);
    if (!chat || (!chat.members.has(viewer.id) && !this.wasMember(chat, viewer))) return badRequest('PEER_ID_INVALID');
    return chat;
  }

  /** messages.addChatUser: members add users; USER_ALREADY_PARTICIPANT (core.telegram.org/method/messages.addChatUser). */
  async addChatUser(caller: Account, chat: BasicGroup, user: Account): Promise<void> {
    await this.model.faults.apply('messages.addChatUser', String(chat.id));
    if (!chat.members.has(caller.id)) forbidden('CHAT_WRITE_FORBIDDEN');
    if (chat.members.has(user.id)) badRequest('USER_ALREADY_PARTICIPANT');
    chat.members.add(user.id);
  }

  /** messages.deleteChatUser: a member leaves, or the creator removes one; others CHAT_ADMIN_REQUIRED. */
  async deleteChatUser(caller: Account, chat: BasicGroup, user: Account): Promise<void> {
    await this.model.faults.apply('messages.deleteChatUser', String(chat.id));
    if (user.id !== caller.id && chat.creatorId !== caller.id) badRequest('CHAT_ADMIN_REQUIRED');
    if (!chat.members.delete(user.id)) badRequest('USER_NOT_PARTICIPANT');
    this.formerMembers(chat).add(user.id);
  }

  /**
   * messages.sendMessage to a user or a basic group (core.telegram.org/method/messages.sendMessage):
   * random_id as for channels; see assertMaySend for who may write.
   */
  send(sender: Account, peer: BoxPeer, text: string, randomId: bigint): Promise<BoxSend> {
    return this.randomIds.once(sender, { id: peer.id }, randomId, async () => {
      await this.model.faults.apply('messages.sendMessage', this.targetName(peer));
      if (!text.trim()) badRequest('MESSAGE_EMPTY');
      const recipients = this.assertMaySend(sender, peer);
      if (sender.peerFlood && peer.kind === 'user' && peer.id !== sender.id) badRequest('PEER_FLOOD');
      this.model.takeSendLimits(sender, `${peer.kind}:${peer.id}`);
      const date = Math.floor(this.model.now() / 1000);
      return this.boxes.deliver(sender.id, recipients, text, date);
    }).then(({ message, repeated }) => ({ entry: message, repeated }));
  }

  /** messages.getHistory of a private chat or a basic group, from the viewer's box. */
  async history(viewer: Account, peer: BoxPeer, offsetId: number, limit: number): Promise<BoxEntry[]> {
    await this.model.faults.apply('messages.getHistory', this.targetName(peer));
    return this.boxes.history(viewer.id, peer, offsetId, limit);
  }

  /**
   * Who may write, and whose boxes get the message:
   * - a user who blocked the sender: 400 USER_IS_BLOCKED; one the sender blocked: 400 YOU_BLOCKED_USER
   *   (messages.sendMessage's errors; core.telegram.org/api/block);
   * - a bot to a user who never wrote to it: bots "cannot initiate conversations with users"
   *   (core.telegram.org/bots/faq); the MTProto answer is 400 PEER_ID_INVALID (Bot API's "Forbidden:
   *   bot can't initiate conversation with a user"); a bot to a bot: 400 USER_IS_BOT;
   * - a user who asks Premium of non-contacts: 403 PRIVACY_PREMIUM_REQUIRED (./privacy.ts);
   * - a basic group the sender is not (or no longer) in: 403 CHAT_WRITE_FORBIDDEN.
   */
  private assertMaySend(sender: Account, peer: BoxPeer): [bigint, BoxPeer][] {
    if (peer.kind === 'chat') {
      const chat = this.chat(sender, peer.id);
      if (!chat.members.has(sender.id)) forbidden('CHAT_WRITE_FORBIDDEN');
      return [...chat.members].map((m) => [m, peer]);
    }
    if (peer.id === sender.id) return [[sender.id, peer]];
    const user = this.model.accounts.byUserId(peer.id) ?? badRequest('PEER_ID_INVALID');
    if (this.blocked.get(user.id)?.has(sender.id)) badRequest('USER_IS_BLOCKED');
    if (this.blocked.get(sender.id)?.has(user.id)) badRequest('YOU_BLOCKED_USER');
    if (sender.bot && user.bot) badRequest('USER_IS_BOT');
    if (sender.bot && !this.started.get(sender.id)?.has(user.id)) badRequest('PEER_ID_INVALID');
    this.privacy.assertMayMessage(sender, user);
    if (user.bot) this.started.set(user.id, (this.started.get(user.id) ?? new Set()).add(sender.id));
    return [[sender.id, peer], [user.id, { kind: 'user', id: sender.id }]];
  }

  private targetName(peer: BoxPeer): string {
    return peer.kind === 'user' ? this.model.accounts.byUserId(peer.id)?.username ?? String(peer.id) : String(peer.id);
  }

  private formerMembers(chat: BasicGroup): Set<bigint> {
    const set = this.former.get(chat.id) ?? new Set<bigint>();
    this.former.set(chat.id, set);
    return set;
  }

  private wasMember(chat: BasicGroup, viewer: Account): boolean {
    return this.former.get(chat.id)?.has(viewer.id) ?? false;
  }
}
