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
}

export interface AdminRights {
  postMessages: boolean;
  addAdmins: boolean;
  inviteUsers: boolean;
  banUsers: boolean;
}

export interface StoredMessage {
  id: number;
  fromId: bigint;
  date: number;
  text: string;
  /** A photo or document sent with messages.sendMedia; `text` is its caption. */
  media?: StoredFile;
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
