// What the model stores. Plain data: the MTProto layer turns it into TL objects per viewer.
import type { StoredFile } from './media.ts';
import type { PasswordRecord } from './srp.ts';

export interface Account {
  id: bigint;
  phone: string;
  firstName: string;
  lastName: string;
  username?: string;
  /** Test numbers 99966XYYYY live on DC X (core.telegram.org/api/auth#test-accounts). */
  homeDc: number;
  /** Spam-restricted: sends to strangers answer PEER_FLOOD (core.telegram.org/api/errors#400-bad-request). */
  peerFlood: boolean;
  /** Two-step verification, when set (core.telegram.org/api/srp). */
  password?: PasswordRecord;
  /** A bot, signed in with auth.importBotAuthorization (core.telegram.org/api/bots). */
  bot?: boolean;
  /** Banned by Telegram: every call answers 401 USER_DEACTIVATED_BAN (core.telegram.org/api/errors#401-unauthorized). */
  banned?: boolean;
  /** Frozen: most calls answer 420 FROZEN_METHOD_INVALID (core.telegram.org/api/auth#frozen-accounts). */
  frozen?: boolean;
}

export interface AdminRights {
  postMessages: boolean;
  addAdmins: boolean;
  inviteUsers: boolean;
  banUsers: boolean;
  /** Edit others' posts (channels), delete others' messages, pin (core.telegram.org/constructor/chatAdminRights). */
  editMessages?: boolean;
  deleteMessages?: boolean;
  pinMessages?: boolean;
}

export interface StoredMessage {
  id: number;
  fromId: bigint;
  date: number;
  text: string;
  /** A photo or document sent with messages.sendMedia; `text` is its caption. */
  media?: StoredFile;
  /** Set by messages.editMessage (message.edit_date). */
  editDate?: number;
  pinned?: boolean;
  /** Channel posts only (message.views / forwards, core.telegram.org/constructor/message). */
  views?: number;
  forwards?: number;
  /** Reactions by emoticon (message.reactions results, core.telegram.org/constructor/messageReactions). */
  reactions?: Map<string, number>;
}

export interface Channel {
  id: bigint;
  title: string;
  /** A broadcast channel (only admins post) rather than a supergroup (core.telegram.org/api/channel). */
  broadcast: boolean;
  creatorId: bigint;
  username?: string;
  date: number;
  admins: Map<bigint, AdminRights>;
  members: Set<bigint>;
  /** Kicked users lose the chat; restricted ones keep reading but may not send. */
  banned: Map<bigint, 'kicked' | 'restricted'>;
  slowmodeSeconds: number;
  lastPostAt: Map<bigint, number>;
  messages: StoredMessage[];
  pts: number;
}
