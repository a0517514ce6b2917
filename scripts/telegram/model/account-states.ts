// What an account may call in its state: frozen accounts and bots are refused most or some methods.
import { badRequest, fail } from './errors.ts';
import type { Account } from './state.ts';

/**
 * A frozen account keeps its session but may only read its own state: other calls answer
 * 420 FROZEN_METHOD_INVALID (core.telegram.org/api/auth#frozen-accounts). Which few methods stay
 * open is the stand-in's choice: those a client needs to start and to show the account.
 */
const OPEN_WHEN_FROZEN = new Set(['updates.getState', 'users.getUsers', 'account.getPassword', 'auth.logOut']);

/** Methods whose pages say "Only users can use this method": a bot gets 400 BOT_METHOD_INVALID. */
const USERS_ONLY = new Set([
  'contacts.importContacts',
  'messages.createChat',
  'channels.createChannel',
  'messages.getHistory',
  'messages.getMessagesViews',
  'account.updateUsername',
]);

/** The TL name of a GramJS request ("messages.SendMessage" → "messages.sendMessage"). */
export const methodName = (className: string) => className.replace(/\.(\w)/, (_, c: string) => `.${c.toLowerCase()}`);

/** Throws what Telegram answers `account` calling `method` in its current state. */
export function assertMayCall(account: Account, method: string): Account {
  if (account.frozen && !OPEN_WHEN_FROZEN.has(method)) fail(420, 'FROZEN_METHOD_INVALID');
  if (account.bot && USERS_ONLY.has(method)) badRequest('BOT_METHOD_INVALID');
  return account;
}
