// Encrypted messages, MTProto 2.0 (core.telegram.org/mtproto/description): msg_key is the middle
// 128 bits of SHA256(substr(auth_key, 88+x, 32) + plaintext + padding), and the AES-256-IGE key and
// IV come from SHA256(msg_key + substr(auth_key, x, 36)) and SHA256(substr(auth_key, 40+x, 36) +
// msg_key); x = 0 for messages from the client and 8 for messages from the server.
import { createHash, randomBytes } from 'node:crypto';
import { IGE } from 'telegram/crypto/IGE.js';

const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();

/** auth_key_id: the 64 lower-order bits of SHA1(auth_key), as it appears on the wire. */
export const authKeyId = (key: Buffer) => createHash('sha1').update(key).digest().subarray(12, 20);

function aesKeyIv(authKey: Buffer, msgKey: Buffer, x: number): { key: Buffer; iv: Buffer } {
  const a = sha256(msgKey, authKey.subarray(x, x + 36));
  const b = sha256(authKey.subarray(40 + x, 76 + x), msgKey);
  return {
    key: Buffer.concat([a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32)]),
    iv: Buffer.concat([b.subarray(0, 8), a.subarray(8, 24), b.subarray(24, 32)]),
  };
}

/** Decrypts a client packet (after its auth_key_id); undefined when msg_key does not verify. */
export function decryptFromClient(authKey: Buffer, packet: Buffer): Buffer | undefined {
  const msgKey = packet.subarray(8, 24);
  const { key, iv } = aesKeyIv(authKey, msgKey, 0);
  const plain = new IGE(key, iv).decryptIge(packet.subarray(24));
  // The security guidelines require checking msg_key against the decrypted data.
  const expected = sha256(authKey.subarray(88, 120), plain).subarray(8, 24);
  return expected.equals(msgKey) ? plain : undefined;
}

/** Encrypts a server message: 12 to 1024 bytes of padding, a multiple of 16 in total. */
export function encryptForClient(authKey: Buffer, plain: Buffer): Buffer {
  const padding = randomBytes(12 + ((16 - ((plain.length + 12) % 16)) % 16));
  const data = Buffer.concat([plain, padding]);
  const msgKey = sha256(authKey.subarray(96, 128), data).subarray(8, 24);
  const { key, iv } = aesKeyIv(authKey, msgKey, 8);
  return Buffer.concat([authKeyId(authKey), msgKey, new IGE(key, iv).encryptIge(data)]);
}
