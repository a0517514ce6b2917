// Sealing of Telegram sessions with AES-256-GCM under a key only worker processes hold
// (WORKER_SESSION_KEY). GCM both hides the session and authenticates it: a row sealed under
// another key, or altered in the database, does not open (its tag fails), it never opens wrong.
// A key is a KeyObject, so a logged or inspected key shows its size, never its bytes.
import { createCipheriv, createDecipheriv, createHash, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';

export interface SessionKey {
  /** A short hash of the key: names the key a row was sealed under, reveals nothing of it. */
  readonly id: string;
  readonly secret: KeyObject;
}

export interface SealedSession {
  keyId: string;
  /** 12 random bytes, new for every seal. */
  nonce: Buffer;
  /** The ciphertext followed by GCM's 16-byte tag. */
  ciphertext: Buffer;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export class SessionKeyError extends Error {}

/** A base64 32-byte key (`openssl rand -base64 32`). The error never quotes the text. */
export function parseSessionKey(text: string): SessionKey {
  const trimmed = text.trim();
  const bytes = BASE64.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (bytes.length !== KEY_BYTES || bytes.toString('base64') !== trimmed) {
    throw new SessionKeyError(
      `a session key must be ${KEY_BYTES} bytes in base64 (44 characters; make one with \`openssl rand -base64 32\`)`,
    );
  }
  const id = createHash('sha256').update('tg-campaigns session key\0').update(bytes).digest('hex').slice(0, 16);
  return { id, secret: createSecretKey(bytes) };
}

export function seal(key: SessionKey, plaintext: string): SealedSession {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.secret, nonce);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyId: key.id, nonce, ciphertext: Buffer.concat([body, cipher.getAuthTag()]) };
}

/**
 * Opens a sealed session with whichever of `keys` it was sealed under (the current key and,
 * during a rotation, the old ones). Throws SessionKeyError when none of them is that key or the
 * ciphertext was altered.
 */
export function openSealed(keys: SessionKey[], sealed: SealedSession): string {
  const key = keys.find((k) => k.id === sealed.keyId);
  if (!key) {
    throw new SessionKeyError(
      `sealed under key ${sealed.keyId}, which this process does not hold (it holds ${
        keys.map((k) => k.id).join(', ') || 'none'
      })`,
    );
  }
  if (sealed.ciphertext.length <= TAG_BYTES || sealed.nonce.length !== NONCE_BYTES) {
    throw new SessionKeyError(`sealed session under key ${sealed.keyId} is malformed`);
  }
  const decipher = createDecipheriv('aes-256-gcm', key.secret, sealed.nonce);
  decipher.setAuthTag(sealed.ciphertext.subarray(-TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.ciphertext.subarray(0, -TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new SessionKeyError(`sealed session under key ${sealed.keyId} does not open: altered, or a different key with that id`);
  }
}
