// Two-step verification state (core.telegram.org/api/srp): account.getPassword hands out a
// one-use SRP challenge (srp_id, srp_B); auth.checkPassword and account.updatePasswordSettings
// prove the current password with it. A wrong proof is 400 PASSWORD_HASH_INVALID, an unknown or
// used srp_id 400 SRP_ID_INVALID.
import { randomBytes } from 'node:crypto';
import { badRequest } from './errors.ts';
import { type Challenge, challenge, type PasswordRecord, verify } from './srp.ts';
import type { Account } from './state.ts';

export interface PasswordState {
  current?: { record: PasswordRecord; srpId: bigint; B: Buffer };
  /** Salts for a new password: the client appends 32 random bytes to salt1. */
  newSalt1: Buffer;
  newSalt2: Buffer;
}

export interface SrpProof {
  srpId: bigint;
  A: Buffer;
  M1: Buffer;
}

export class TwoFactor {
  private readonly challenges = new Map<bigint, { accountId: bigint; ch: Challenge }>();

  /** account.getPassword. */
  state(account: Account): PasswordState {
    const salts = { newSalt1: randomBytes(8), newSalt2: randomBytes(16) };
    if (!account.password) return salts;
    const srpId = randomBytes(8).readBigInt64LE(0);
    const ch = challenge(account.password);
    this.challenges.set(srpId, { accountId: account.id, ch });
    return { ...salts, current: { record: account.password, srpId, B: ch.B } };
  }

  /** Checks a proof of the account's current password; each challenge serves one proof. */
  check(account: Account, proof: SrpProof | undefined): void {
    if (!account.password) return;
    if (!proof) return badRequest('PASSWORD_HASH_INVALID');
    const pending = this.challenges.get(proof.srpId);
    this.challenges.delete(proof.srpId);
    if (!pending || pending.accountId !== account.id) return badRequest('SRP_ID_INVALID');
    if (!verify(account.password, pending.ch, proof.A, proof.M1)) badRequest('PASSWORD_HASH_INVALID');
  }

  /** account.updatePasswordSettings: proves the current password, then sets (or, with no hash, removes) it. */
  update(account: Account, proof: SrpProof | undefined, next: PasswordRecord | undefined): void {
    this.check(account, proof);
    if (next && next.v.length !== 256) badRequest('NEW_SETTINGS_INVALID');
    account.password = next;
  }
}
