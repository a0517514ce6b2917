// Channels and supergroups, and who may do what in them (core.telegram.org/api/channel,
// core.telegram.org/api/rights). The creator has every right; admins have the rights they were
// given with channels.editAdmin; in a broadcast channel only admins with post_messages post; in a
// supergroup members post unless restricted.
import { badRequest, fail, forbidden } from './errors.ts';
import type { AdminRights, Channel } from './state.ts';

export const ALL_RIGHTS: AdminRights = {
  postMessages: true,
  addAdmins: true,
  inviteUsers: true,
  banUsers: true,
  editMessages: true,
  deleteMessages: true,
  pinMessages: true,
};

export function newChannel(id: bigint, creatorId: bigint, title: string, broadcast: boolean, date: number): Channel {
  if (!title.trim()) badRequest('CHAT_TITLE_EMPTY');
  return {
    id,
    title,
    broadcast,
    creatorId,
    date,
    admins: new Map([[creatorId, ALL_RIGHTS]]),
    members: new Set([creatorId]),
    banned: new Map(),
    slowmodeSeconds: 0,
    lastPostAt: new Map(),
    messages: [],
    pts: 1,
  };
}

export const rightsOf = (ch: Channel, userId: bigint): AdminRights | undefined =>
  ch.creatorId === userId ? ALL_RIGHTS : ch.admins.get(userId);

/**
 * Whether the account may see the chat at all. A kicked user, or anyone outside a private chat
 * (one without a username), gets 400 CHANNEL_PRIVATE ("you haven't joined this channel/supergroup").
 */
export function assertVisible(ch: Channel, userId: bigint): void {
  if (ch.banned.get(userId) === 'kicked') badRequest('CHANNEL_PRIVATE');
  if (!ch.username && !ch.members.has(userId)) badRequest('CHANNEL_PRIVATE');
}

/**
 * Whether the account may post (messages.sendMessage's error list): a restricted member is
 * 400 USER_BANNED_IN_CHANNEL; a non-member, or a non-admin or an admin without post_messages
 * in a broadcast channel, is 403 CHAT_WRITE_FORBIDDEN.
 */
export function assertMayPost(ch: Channel, userId: bigint): void {
  assertVisible(ch, userId);
  if (ch.banned.get(userId) === 'restricted') badRequest('USER_BANNED_IN_CHANNEL');
  if (!ch.members.has(userId)) forbidden('CHAT_WRITE_FORBIDDEN');
  if (ch.broadcast && !rightsOf(ch, userId)?.postMessages) forbidden('CHAT_WRITE_FORBIDDEN');
}

/**
 * Slow mode (core.telegram.org/method/channels.toggleSlowMode): in a supergroup a member who is
 * not an admin may send one message per period; earlier sends get 420 SLOWMODE_WAIT_X.
 */
export function assertSlowMode(ch: Channel, userId: bigint, now: number): void {
  if (!ch.slowmodeSeconds || rightsOf(ch, userId)) return;
  const last = ch.lastPostAt.get(userId);
  const wait = last === undefined ? 0 : last + ch.slowmodeSeconds * 1000 - now;
  if (wait > 0) fail(420, `SLOWMODE_WAIT_${Math.ceil(wait / 1000)}`);
}

/** An admin action needs the given right; otherwise 400 CHAT_ADMIN_REQUIRED. */
export function assertRight(ch: Channel, userId: bigint, right: keyof AdminRights): void {
  assertVisible(ch, userId);
  if (!rightsOf(ch, userId)?.[right]) badRequest('CHAT_ADMIN_REQUIRED');
}

/** Slow mode exists only in supergroups: periods other than Telegram's list are SECONDS_INVALID. */
export function setSlowMode(ch: Channel, seconds: number): void {
  if (ch.broadcast) badRequest('INPUT_METHOD_INVALID');
  if (![0, 10, 30, 60, 300, 900, 3600].includes(seconds)) badRequest('SECONDS_INVALID');
  ch.slowmodeSeconds = seconds;
}
