// Access hashes. core.telegram.org/api/peers: a user or channel is addressed by its id and an
// access_hash, and the access_hash is specific to the account that received it: "the same
// peer has a different access hash for each user". A hash is therefore derived here from the
// viewing account, the peer's kind and id, under a secret of this model: another account's
// hash never validates.
import { createHmac, randomBytes } from 'node:crypto';
import { badRequest } from './errors.ts';

export type PeerKind = 'user' | 'channel';

export class AccessHashes {
  private readonly secret = randomBytes(32);

  of(viewer: bigint, kind: PeerKind, id: bigint): bigint {
    const mac = createHmac('sha256', this.secret).update(`${kind}:${viewer}:${id}`).digest();
    return mac.readBigInt64LE(0);
  }

  /**
   * Checks a hash a client sent. A wrong hash for a channel is 400 CHANNEL_INVALID, for a user
   * 400 PEER_ID_INVALID (the error lists of messages.sendMessage and channels.* methods).
   */
  check(viewer: bigint, kind: PeerKind, id: bigint, hash: bigint): void {
    if (this.of(viewer, kind, id) !== hash) badRequest(kind === 'channel' ? 'CHANNEL_INVALID' : 'PEER_ID_INVALID');
  }
}
