// Moving an authorization to another DC (core.telegram.org/api/datacenter): auth.exportAuthorization
// on the account's DC gives (id, bytes) for a target DC; auth.importAuthorization there signs that
// DC's key in. Exporting to the same or an unknown DC is 400 DC_ID_INVALID; bytes that were not
// exported for that DC, or were used already, are 400 AUTH_BYTES_INVALID.
import { randomBytes } from 'node:crypto';
import { badRequest } from './errors.ts';
import type { Account } from './state.ts';

export class Transfers {
  private readonly pending = new Map<string, { accountId: bigint; dcId: number }>();

  export(account: Account, fromDc: number, toDc: number, dcIds: number[]): { id: bigint; bytes: Buffer } {
    if (toDc === fromDc || !dcIds.includes(toDc)) badRequest('DC_ID_INVALID');
    const bytes = randomBytes(32);
    this.pending.set(bytes.toString('hex'), { accountId: account.id, dcId: toDc });
    return { id: account.id, bytes };
  }

  /** The account id the bytes were exported for, once. */
  import(dcId: number, id: bigint, bytes: Buffer): bigint {
    const key = bytes.toString('hex');
    const pending = this.pending.get(key);
    this.pending.delete(key);
    if (!pending || pending.accountId !== id || pending.dcId !== dcId) return badRequest('AUTH_BYTES_INVALID');
    return pending.accountId;
  }
}
