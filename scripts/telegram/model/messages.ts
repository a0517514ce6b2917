// Posting and reading. messages.sendMessage's random_id is the client's "unique client message
// ID required to prevent message resending" (core.telegram.org/method/messages.sendMessage): it is
// kept per (account, peer) without expiry, a repeat answers the message the first call created,
// and a repeat while the first is still being processed is 500 RANDOM_ID_DUPLICATE.
import { fail } from './errors.ts';
import type { StoredFile } from './media.ts';
import type { Account, Channel, StoredMessage } from './state.ts';

type Slot<T> = T | 'in-flight';

export interface SendResult {
  message: StoredMessage;
  /** True when the random_id was seen before and nothing new was posted. */
  repeated: boolean;
}

export class RandomIds<T = StoredMessage> {
  private readonly slots = new Map<string, Slot<T>>();

  /**
   * Runs `post` once per (account, peer, random_id): a finished repeat returns the first message,
   * a concurrent repeat fails, and a failed first call frees the id for a retry.
   */
  async once(
    account: Account,
    ch: Pick<Channel, 'id'>,
    randomId: bigint,
    post: () => Promise<T>,
  ): Promise<{ message: T; repeated: boolean }> {
    const key = `${account.id}:${ch.id}:${randomId}`;
    const slot = this.slots.get(key);
    if (slot === 'in-flight') return fail(500, 'RANDOM_ID_DUPLICATE');
    if (slot) return { message: slot, repeated: true };
    this.slots.set(key, 'in-flight');
    try {
      const message = await post();
      this.slots.set(key, message);
      return { message, repeated: false };
    } catch (err) {
      this.slots.delete(key);
      throw err;
    }
  }
}

/** Appends a message to the channel: ids grow by one per channel, and so does its pts. */
export function appendMessage(ch: Channel, fromId: bigint, text: string, now: number, media?: StoredFile): StoredMessage {
  const message = { id: (ch.messages.at(-1)?.id ?? 0) + 1, fromId, date: Math.floor(now / 1000), text, media };
  ch.messages.push(message);
  ch.pts += 1;
  ch.lastPostAt.set(fromId, now);
  return message;
}

/** messages.getHistory: newest first, below offset_id when given, at most `limit` (max 100). */
export function historyOf(ch: Channel, offsetId: number, limit: number): StoredMessage[] {
  const below = offsetId > 0 ? ch.messages.filter((m) => m.id < offsetId) : ch.messages;
  return below.slice(-Math.min(Math.max(limit, 1), 100)).reverse();
}
