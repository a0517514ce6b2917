// The stand-in's RSA key pair. Clients pick the server key by its fingerprint, "the 64 lower-order
// bits of SHA1(server_public_key)" where the key is serialized as TL rsa_public_key n:bytes e:bytes
// (core.telegram.org/mtproto/auth_key, step 2).
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
} from 'node:crypto';
import { serializeBytes } from 'telegram/tl/generationHelpers.js';

export interface ServerKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  /** Signed 64-bit, as TL longs are read. */
  fingerprint: bigint;
}

/** Generates a 2048-bit key pair, or loads one from a PKCS#8/PKCS#1 PEM private key. */
export function serverKey(privatePem?: string): ServerKey {
  const privateKey = privatePem
    ? createPrivateKey(privatePem)
    : generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 }).privateKey;
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'pkcs1', format: 'pem' }).toString();
  return { privateKey, publicKeyPem, fingerprint: fingerprintOf(publicKeyPem) };
}

/** The modulus and exponent of a PEM public key, big-endian. */
export function publicNumbers(publicKeyPem: string): { n: Buffer; e: Buffer } {
  const jwk = createPublicKey(publicKeyPem).export({ format: 'jwk' });
  return { n: Buffer.from(jwk.n ?? '', 'base64url'), e: Buffer.from(jwk.e ?? '', 'base64url') };
}

export function fingerprintOf(publicKeyPem: string): bigint {
  const { n, e } = publicNumbers(publicKeyPem);
  const sha = createHash('sha1').update(Buffer.concat([serializeBytes(n), serializeBytes(e)])).digest();
  return sha.readBigInt64LE(12);
}

/** Raw RSA (no padding): Telegram's RSA_PAD applies its own padding before the modular power. */
export function rsaDecrypt(key: ServerKey, data: Buffer): Buffer {
  return privateDecrypt({ key: key.privateKey, padding: constants.RSA_NO_PADDING }, data);
}
