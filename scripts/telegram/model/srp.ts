// The server's half of SRP 2FA (core.telegram.org/api/srp). The client keeps x = PH2(password,
// salt1, salt2) to itself and gives the server v = g^x mod p when it sets the password; to sign
// in, the server sends B = k·v + g^b with k = H(p | g), the client answers A and
// M1 = H(H(p) xor H(g) | H(salt1) | H(salt2) | A | B | K), where K = H(S), S = (A · v^u)^b and
// u = H(A | B). Numbers are hashed as 256-byte big-endian values.
import { createDiffieHellman, createHash, type DiffieHellman, timingSafeEqual } from 'node:crypto';
import { DH_G, DH_PRIME } from '../prime.ts';

export interface PasswordRecord {
  salt1: Buffer;
  salt2: Buffer;
  /** v = g^x mod p, as the client sent it (new_password_hash). */
  v: Buffer;
  hint: string;
}

export interface Challenge {
  B: Buffer;
  dh: DiffieHellman;
}

const H = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const pad = (b: Buffer) => (b.length >= 256 ? b.subarray(b.length - 256) : Buffer.concat([Buffer.alloc(256 - b.length), b]));
const num = (b: Buffer) => (b.length ? BigInt(`0x${b.toString('hex')}`) : 0n);
const bytes = (n: bigint) => {
  const hex = n.toString(16);
  return pad(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'));
};
const P = num(DH_PRIME);
const G_BYTES = bytes(BigInt(DH_G));

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  for (let b = base % mod, e = exp; e > 0n; e >>= 1n, b = (b * b) % mod) if (e & 1n) result = (result * b) % mod;
  return result;
}

/** A fresh challenge (srp_B) for one sign-in attempt. */
export function challenge(record: PasswordRecord): Challenge {
  const dh = createDiffieHellman(DH_PRIME, DH_G);
  const gB = num(dh.generateKeys());
  const k = num(H(DH_PRIME, G_BYTES));
  return { B: bytes((k * num(record.v) + gB) % P), dh };
}

/** Whether the client's A and M1 prove it knows the password behind `record`. */
export function verify(record: PasswordRecord, ch: Challenge, A: Buffer, M1: Buffer): boolean {
  const a = num(A);
  if (a <= 1n || a >= P - 1n || M1.length !== 32) return false;
  const u = num(H(pad(A), ch.B));
  const S = pad(ch.dh.computeSecret(bytes((a * modPow(num(record.v), u, P)) % P)));
  const hp = H(DH_PRIME);
  const hg = H(G_BYTES);
  const expected = H(Buffer.from(hp.map((x, i) => x ^ (hg[i] ?? 0))), H(record.salt1), H(record.salt2), pad(A), ch.B, H(S));
  return timingSafeEqual(expected, M1);
}
