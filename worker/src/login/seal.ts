// The workers' key for secrets in transit (phone numbers, bot tokens, codes, passwords on their way
// to Telegram): an X25519 key pair derived from WORKER_SESSION_KEY with HKDF, so every worker that
// holds the session key holds it too, and no other secret has to be kept. The public key is
// published in the database; the functions seal for it (supabase/functions/_shared/seal.ts, the
// same layout: ephemeral public key 32 || nonce 12 || ciphertext and tag).
import {
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import type { SessionKey } from '../sessions/vault.ts';

export interface LoginKey {
  /** A short hash of the public key: names the key a step was sealed for. */
  readonly id: string;
  readonly publicKey: Buffer;
  readonly privateKey: KeyObject;
}

export class SealedSecretError extends Error {}

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const INFO = Buffer.from('tg-campaigns login secret v1');

export function loginKeyOf(sessionKey: SessionKey): LoginKey {
  const seed = Buffer.from(hkdfSync('sha256', sessionKey.secret, Buffer.alloc(0), 'tg-campaigns login key v1', 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url');
  const id = createHash('sha256').update('tg-campaigns login key\0').update(publicKey).digest('hex').slice(0, 16);
  return { id, publicKey, privateKey };
}

/** Opens a secret sealed for `key` with this `context` (account and step); throws SealedSecretError otherwise. */
export function openLoginSecret(key: LoginKey, sealed: Buffer, context: string): string {
  if (sealed.length < 32 + 12 + 16) throw new SealedSecretError('sealed secret is too short');
  const ephemeral = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: sealed.subarray(0, 32).toString('base64url') },
    format: 'jwk',
  });
  const shared = diffieHellman({ privateKey: key.privateKey, publicKey: ephemeral });
  const salt = Buffer.concat([sealed.subarray(0, 32), key.publicKey]);
  const aesKey = Buffer.from(hkdfSync('sha256', shared, salt, INFO, 32));
  const nonce = sealed.subarray(32, 44);
  const body = sealed.subarray(44);
  const decipher = createDecipheriv('aes-256-gcm', aesKey, nonce);
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(body.subarray(-16));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, -16)), decipher.final()]).toString('utf8');
  } catch {
    throw new SealedSecretError('sealed secret does not open: another key, another account or step, or altered');
  }
}
