// Messages from the server within one session (core.telegram.org/mtproto/description):
// msg_id is about unixtime × 2^32, increasing, ≡ 1 mod 4 for responses and ≡ 3 otherwise;
// seq_no is twice the number of content-related messages sent before, plus one if this one is.
import { encryptForClient } from './crypto.ts';

export interface Outgoing {
  body: Buffer;
  contentRelated: boolean;
  response: boolean;
}

export class Outbox {
  private lastMsgId = 0n;
  private contentSent = 0;

  /** The plaintext header plus body, encrypted for the client. */
  seal(authKey: Buffer, salt: bigint, sessionId: bigint, msg: Outgoing): Buffer {
    const head = Buffer.alloc(32);
    head.writeBigInt64LE(salt, 0);
    head.writeBigInt64LE(sessionId, 8);
    head.writeBigInt64LE(this.msgId(msg.response), 16);
    head.writeInt32LE(msg.contentRelated ? this.contentSent++ * 2 + 1 : this.contentSent * 2, 24);
    head.writeInt32LE(msg.body.length, 28);
    return encryptForClient(authKey, Buffer.concat([head, msg.body]));
  }

  private msgId(response: boolean): bigint {
    const now = Date.now();
    let id = (BigInt(Math.floor(now / 1000)) << 32n) | (BigInt(now % 1000) << 22n);
    id = (id & ~3n) | (response ? 1n : 3n);
    while (id <= this.lastMsgId) id += 4n;
    this.lastMsgId = id;
    return id;
  }
}

/** An unencrypted message: auth_key_id 0, msg_id, length, body (core.telegram.org/mtproto/description#unencrypted-message). */
export function plainMessage(body: Buffer): Buffer {
  const head = Buffer.alloc(20);
  const now = Date.now();
  head.writeBigInt64LE((BigInt(Math.floor(now / 1000)) << 32n) | (BigInt(now % 1000) << 22n) | 1n, 8);
  head.writeInt32LE(body.length, 16);
  return Buffer.concat([head, body]);
}
