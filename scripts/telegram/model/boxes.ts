// Private chats and basic groups live in each account's own message box: their message ids and
// pts are per account ("common message box", core.telegram.org/api/updates), unlike a channel's,
// which are per channel. One message sent to a user or a basic group is therefore stored once and
// appears in every participant's box under that box's next id.

import type { StoredFile } from './media.ts';

export interface BoxPeer {
  kind: 'user' | 'chat';
  id: bigint;
}

/** A message as every participant sees it; `copies` maps each account to its id in that account's box. */
export interface SharedPost {
  fromId: bigint;
  date: number;
  text: string;
  /** A photo or document (Saved Messages only: saved-messages.ts). */
  media?: StoredFile;
  editDate?: number;
  pinned?: boolean;
  copies: Map<bigint, number>;
}

export interface BoxEntry {
  id: number;
  /** The chat as this box's owner sees it: the other user, or the basic group. */
  peer: BoxPeer;
  post: SharedPost;
}

interface Box {
  nextId: number;
  pts: number;
  entries: Map<number, BoxEntry>;
}

const samePeer = (a: BoxPeer, b: BoxPeer) => a.kind === b.kind && a.id === b.id;

export class Boxes {
  private readonly boxes = new Map<bigint, Box>();

  box(owner: bigint): Box {
    let box = this.boxes.get(owner);
    if (!box) this.boxes.set(owner, box = { nextId: 1, pts: 1, entries: new Map() });
    return box;
  }

  /** Stores the post in each recipient's box (recipient → the chat as it sees it); the sender's copy is returned. */
  deliver(fromId: bigint, recipients: [bigint, BoxPeer][], text: string, date: number, media?: StoredFile): BoxEntry {
    const post: SharedPost = { fromId, date, text, media, copies: new Map() };
    let own: BoxEntry | undefined;
    for (const [owner, peer] of recipients) {
      const box = this.box(owner);
      const entry = { id: box.nextId++, peer, post };
      box.entries.set(entry.id, entry);
      box.pts += 1;
      post.copies.set(owner, entry.id);
      if (owner === fromId) own = entry;
    }
    return own ?? (() => {
      throw new Error('the sender receives its own copy');
    })();
  }

  entry(owner: bigint, id: number): BoxEntry | undefined {
    return this.box(owner).entries.get(id);
  }

  /** messages.getHistory of one chat in the owner's box: newest first, below offset_id, at most 100. */
  history(owner: bigint, peer: BoxPeer, offsetId: number, limit: number): BoxEntry[] {
    const all = [...this.box(owner).entries.values()].filter((e) => samePeer(e.peer, peer));
    const below = offsetId > 0 ? all.filter((e) => e.id < offsetId) : all;
    return below.slice(-Math.min(Math.max(limit, 1), 100)).reverse();
  }

  count(owner: bigint, peer: BoxPeer): number {
    return [...this.box(owner).entries.values()].filter((e) => samePeer(e.peer, peer)).length;
  }

  /** Removes the post from the given boxes: the caller's only, or every copy when revoked. */
  remove(post: SharedPost, owners: bigint[]): void {
    for (const owner of owners) {
      const id = post.copies.get(owner);
      if (id === undefined) continue;
      const box = this.box(owner);
      box.entries.delete(id);
      box.pts += 1;
      post.copies.delete(owner);
    }
  }
}
