// What can be done to a message after it is sent: edit, delete, pin, and read its views and reactions.
// Channels keep their messages in the channel (ids per channel); users and basic groups in each
// participant's box (./boxes.ts). Who may do what follows core.telegram.org/api/rights and the
// error lists of each method's page.
import type { BoxEntry, BoxPeer } from './boxes.ts';
import { assertVisible, rightsOf } from './channels.ts';
import { badRequest, forbidden } from './errors.ts';
import type { MediaInput, StoredFile } from './media.ts';
import type { TelegramModel } from './model.ts';
import type { Account, AdminRights, Channel, StoredMessage } from './state.ts';

/**
 * help.getConfig's edit_time_limit, 172800 s (48 h): "only messages with age smaller than the one
 * specified can be edited" (core.telegram.org/constructor/config). Posts of broadcast channels have
 * no such limit: admins edit them at any time (telegram.org/blog/channels-2-0).
 */
export const EDIT_TIME_LIMIT_S = 172_800;

export interface Affected {
  pts: number;
  ptsCount: number;
}

const seconds = (model: TelegramModel) => Math.floor(model.now() / 1000);

/** messages.editMessage's `media` (an InputMedia, core.telegram.org/method/messages.editMessage) and the caller's DC. */
export interface EditMedia {
  input: MediaInput;
  dcId: number;
}

type Editable = { date: number; text: string; media?: StoredFile; editDate?: number };

/**
 * Applies an edit: the text and, with `media`, the post's file, which Telegram replaces ("media: New
 * attached media") only on a post that has one: a text message cannot gain media by editing (400
 * MEDIA_PREV_INVALID, "Previous media invalid", in the method's error list), and a post's media
 * cannot be taken away (no InputMedia removes it).
 */
function applyEdit(
  model: TelegramModel,
  editor: Account,
  m: Editable,
  text: string,
  media: EditMedia | undefined,
  limited: boolean,
): void {
  if (media && !m.media) badRequest('MEDIA_PREV_INVALID');
  const file = media && model.media.resolve(editor, media.input, media.dcId);
  // "400 MESSAGE_NOT_MODIFIED: the provided message data is identical to the previous one".
  if (text === m.text && (!file || file.id === m.media?.id)) badRequest('MESSAGE_NOT_MODIFIED');
  if (!m.media && !text.trim()) badRequest('MESSAGE_EMPTY');
  if (limited && seconds(model) - m.date > EDIT_TIME_LIMIT_S) badRequest('MESSAGE_EDIT_TIME_EXPIRED');
  m.text = text;
  if (file) m.media = file;
  m.editDate = seconds(model);
}

const hasRight = (ch: Channel, user: bigint, right: keyof AdminRights) => !!rightsOf(ch, user)?.[right];

export class AfterSend {
  /** Who has been counted as a viewer of each channel post. */
  private readonly viewed = new WeakMap<StoredMessage, Set<bigint>>();

  private readonly model: TelegramModel;

  constructor(model: TelegramModel) {
    this.model = model;
  }

  /**
   * messages.editMessage in a channel or supergroup (core.telegram.org/method/messages.editMessage):
   * an unknown or deleted id is 400 MESSAGE_ID_INVALID; someone else's message needs edit_messages
   * in a broadcast channel ("edit messages of other users (channels only)", /constructor/chatAdminRights)
   * and is 403 MESSAGE_AUTHOR_REQUIRED otherwise; supergroup messages keep the 48 h limit.
   */
  async editChannel(editor: Account, ch: Channel, id: number, text: string, media?: EditMedia): Promise<StoredMessage> {
    await this.model.faults.apply('messages.editMessage', ch.username ?? String(ch.id));
    assertVisible(ch, editor.id);
    const m = ch.messages.find((x) => x.id === id) ?? badRequest('MESSAGE_ID_INVALID');
    const own = m.fromId === editor.id && (!ch.broadcast || hasRight(ch, editor.id, 'postMessages'));
    if (!own && !(ch.broadcast && hasRight(ch, editor.id, 'editMessages'))) forbidden('MESSAGE_AUTHOR_REQUIRED');
    applyEdit(this.model, editor, m, text, media, !ch.broadcast);
    ch.pts += 1;
    return m;
  }

  /**
   * channels.deleteMessages (core.telegram.org/method/channels.deleteMessages): one's own messages,
   * or anyone's with delete_messages; otherwise 403 MESSAGE_DELETE_FORBIDDEN. Ids that do not exist
   * are skipped: pts_count says how many were deleted.
   */
  async deleteInChannel(caller: Account, ch: Channel, ids: number[]): Promise<Affected> {
    await this.model.faults.apply('channels.deleteMessages', ch.username ?? String(ch.id));
    assertVisible(ch, caller.id);
    const doomed = ch.messages.filter((m) => ids.includes(m.id));
    const mayAll = hasRight(ch, caller.id, 'deleteMessages');
    if (!mayAll && doomed.some((m) => m.fromId !== caller.id)) forbidden('MESSAGE_DELETE_FORBIDDEN');
    ch.messages = ch.messages.filter((m) => !doomed.includes(m));
    ch.pts += doomed.length;
    return { pts: ch.pts, ptsCount: doomed.length };
  }

  /**
   * messages.updatePinnedMessage in a channel or supergroup (core.telegram.org/method/messages.updatePinnedMessage,
   * /api/pin): needs pin_messages (in broadcast channels edit_messages), else 400 CHAT_ADMIN_REQUIRED.
   */
  async pinInChannel(caller: Account, ch: Channel, id: number, unpin: boolean): Promise<StoredMessage> {
    await this.model.faults.apply('messages.updatePinnedMessage', ch.username ?? String(ch.id));
    assertVisible(ch, caller.id);
    if (!hasRight(ch, caller.id, ch.broadcast ? 'editMessages' : 'pinMessages')) badRequest('CHAT_ADMIN_REQUIRED');
    const m = ch.messages.find((x) => x.id === id) ?? badRequest('MESSAGE_ID_INVALID');
    m.pinned = !unpin;
    ch.pts += 1;
    return m;
  }

  /**
   * messages.getMessagesViews (core.telegram.org/method/messages.getMessagesViews): views and
   * forwards of channel posts, one answer per id in order (deleted ids answer nothing set); with
   * `increment` each account counts once per post.
   */
  async views(viewer: Account, ch: Channel, ids: number[], increment: boolean): Promise<(StoredMessage | undefined)[]> {
    await this.model.faults.apply('messages.getMessagesViews', ch.username ?? String(ch.id));
    assertVisible(ch, viewer.id);
    const found = ids.map((id) => ch.messages.find((m) => m.id === id));
    if (increment && ch.broadcast) { for (const m of found) if (m) this.countView(m, viewer); }
    return found;
  }

  /** Adds views to a channel post, as readers elsewhere would: a stand-in hook for growing reach. */
  addViews(ch: Channel, id: number, views: number, forwards = 0): void {
    const m = ch.messages.find((x) => x.id === id) ?? badRequest('MESSAGE_ID_INVALID');
    m.views = (m.views ?? 0) + views;
    m.forwards = (m.forwards ?? 0) + forwards;
  }

  /**
   * messages.getMessagesReactions (core.telegram.org/method/messages.getMessagesReactions): the
   * reactions of the channel's messages asked for, in order (deleted ids: undefined).
   */
  async reactions(reader: Account, ch: Channel, ids: number[]): Promise<(StoredMessage | undefined)[]> {
    await this.model.faults.apply('messages.getMessagesReactions', ch.username ?? String(ch.id));
    assertVisible(ch, reader.id);
    return ids.map((id) => ch.messages.find((m) => m.id === id));
  }

  /** Readers elsewhere react to a channel post with `emoticon`: a stand-in hook for growing reach. */
  addReactions(ch: Channel, id: number, emoticon: string, count: number): void {
    const m = ch.messages.find((x) => x.id === id) ?? badRequest('MESSAGE_ID_INVALID');
    m.reactions ??= new Map();
    m.reactions.set(emoticon, (m.reactions.get(emoticon) ?? 0) + count);
  }

  /**
   * messages.editMessage of a private chat or basic group message: the author only (403
   * MESSAGE_AUTHOR_REQUIRED), within edit_time_limit (400 MESSAGE_EDIT_TIME_EXPIRED).
   */
  async editInBox(editor: Account, peer: BoxPeer, id: number, text: string, media?: EditMedia): Promise<BoxEntry> {
    await this.model.faults.apply('messages.editMessage', String(peer.id));
    const entry = this.boxEntry(editor, peer, id);
    if (entry.post.fromId !== editor.id) forbidden('MESSAGE_AUTHOR_REQUIRED');
    applyEdit(this.model, editor, entry.post, text, media, true);
    return entry;
  }

  /**
   * messages.deleteMessages (core.telegram.org/method/messages.deleteMessages): ids of the caller's
   * box; `revoke` deletes them for everyone, which in a basic group needs the author or the creator
   * (403 MESSAGE_DELETE_FORBIDDEN); without it only the caller's copy goes.
   */
  async deleteInBox(caller: Account, ids: number[], revoke: boolean): Promise<Affected> {
    await this.model.faults.apply('messages.deleteMessages');
    const boxes = this.model.targets.boxes;
    const entries = ids.map((id) => boxes.entry(caller.id, id)).filter((e): e is BoxEntry => !!e);
    for (const e of entries) if (revoke && !this.mayRevoke(caller, e)) forbidden('MESSAGE_DELETE_FORBIDDEN');
    for (const e of entries) boxes.remove(e.post, revoke ? [...e.post.copies.keys()] : [caller.id]);
    return { pts: boxes.box(caller.id).pts, ptsCount: entries.length };
  }

  /** messages.updatePinnedMessage in a private chat (either side) or a basic group (its members; core.telegram.org/api/pin). */
  async pinInBox(caller: Account, peer: BoxPeer, id: number, unpin: boolean): Promise<BoxEntry> {
    await this.model.faults.apply('messages.updatePinnedMessage', String(peer.id));
    if (peer.kind === 'chat' && !this.model.targets.chat(caller, peer.id).members.has(caller.id)) {
      badRequest('CHAT_ADMIN_REQUIRED');
    }
    const entry = this.boxEntry(caller, peer, id);
    entry.post.pinned = !unpin;
    return entry;
  }

  private boxEntry(caller: Account, peer: BoxPeer, id: number): BoxEntry {
    const entry = this.model.targets.boxes.entry(caller.id, id);
    if (!entry || entry.peer.kind !== peer.kind || entry.peer.id !== peer.id) return badRequest('MESSAGE_ID_INVALID');
    return entry;
  }

  private mayRevoke(caller: Account, e: BoxEntry): boolean {
    if (e.post.fromId === caller.id || e.peer.kind === 'user') return true;
    return this.model.targets.chat(caller, e.peer.id).creatorId === caller.id;
  }

  private countView(m: StoredMessage, viewer: Account): void {
    const seen = this.viewed.get(m) ?? new Set<bigint>();
    this.viewed.set(m, seen);
    if (seen.has(viewer.id)) return;
    seen.add(viewer.id);
    m.views = (m.views ?? 0) + 1;
  }
}
