// Authorization keys a DC knows, with the server salt each is currently given
// (core.telegram.org/mtproto/description#server-salt). Keys are per DC, as on Telegram.
import { randomBytes } from 'node:crypto';
import { authKeyId } from './crypto.ts';

export interface KeyRecord {
  key: Buffer;
  /** auth_key_id as hex, the key's name everywhere in the stand-in. */
  id: string;
  salt: bigint;
}

export class AuthKeys {
  private readonly byId = new Map<string, KeyRecord>();

  add(key: Buffer, salt: bigint): KeyRecord {
    const record = { key, id: authKeyId(key).toString('hex'), salt };
    this.byId.set(record.id, record);
    return record;
  }

  get(id: string): KeyRecord | undefined {
    return this.byId.get(id);
  }

  /** Forgets every key: clients then get -404 and must create a new one. */
  clear(): void {
    this.byId.clear();
  }

  /** Fresh salts, as a server rotates them; clients learn theirs through bad_server_salt. */
  rotateSalts(): void {
    for (const record of this.byId.values()) record.salt = randomBytes(8).readBigInt64LE(0);
  }
}
