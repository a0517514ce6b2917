// Accounts, sign-in as on Telegram's test servers, and the auth keys bound to them.
// core.telegram.org/api/auth: auth.sendCode gives a phone_code_hash; auth.signIn with the code
// either signs in or, for a number without an account, answers auth.authorizationSignUpRequired,
// after which auth.signUp creates the account. "Test accounts": numbers 99966XYYYY belong to
// DC X and their login code is X repeated five times.
import { randomBytes } from 'node:crypto';
import { badRequest, fail } from './errors.ts';
import type { Account } from './state.ts';

const TEST_PHONE = /^99966(\d)\d{4}$/;
/** Clients send numbers with or without "+" and separators; Telegram keys them by digits. */
const digits = (phone: string) => phone.replace(/\D/g, '');

interface PendingCode {
  phone: string;
  hash: string;
}

export class Accounts {
  private readonly byPhone = new Map<string, Account>();
  private readonly byId = new Map<bigint, Account>();
  /** auth_key_id → account: an authorization belongs to one key (core.telegram.org/api/auth). */
  private readonly keys = new Map<string, bigint>();
  private readonly codes = new Map<string, PendingCode>();
  /** Keys whose code was right for an account with 2FA: they may only prove the password. */
  private readonly awaitingPassword = new Map<string, bigint>();
  private nextId = 1_000_000n;
  private readonly revokedKeys = new Set<string>();
  private readonly botTokens = new Map<string, bigint>();

  /** auth.sendCode. Only test numbers exist here; others are PHONE_NUMBER_INVALID. */
  sendCode(phone: string, dcId: number): { phoneCodeHash: string } {
    phone = digits(phone);
    const home = homeDcOf(phone);
    // A number is served by its own DC: elsewhere Telegram answers 303 PHONE_MIGRATE_X (core.telegram.org/api/datacenter).
    if (home !== dcId) fail(303, `PHONE_MIGRATE_${home}`);
    const hash = randomBytes(8).toString('hex');
    this.codes.set(hash, { phone, hash });
    return { phoneCodeHash: hash };
  }

  /** auth.signIn: the account, or 'sign-up' for a number nobody has registered yet. */
  signIn(keyId: string, phone: string, hash: string, code: string): Account | 'sign-up' {
    phone = digits(phone);
    this.checkCode(phone, hash, code);
    const account = this.byPhone.get(phone);
    if (!account) return 'sign-up';
    this.codes.delete(hash);
    if (account.password) {
      // With 2FA the code is not enough: 401 SESSION_PASSWORD_NEEDED, then auth.checkPassword.
      this.awaitingPassword.set(keyId, account.id);
      return fail(401, 'SESSION_PASSWORD_NEEDED');
    }
    this.keys.set(keyId, account.id);
    return account;
  }

  /** auth.signUp: needs the hash of a code already accepted by auth.signIn for this number. */
  signUp(keyId: string, phone: string, hash: string, firstName: string, lastName: string): Account {
    phone = digits(phone);
    if (this.codes.get(hash)?.phone !== phone) badRequest('PHONE_CODE_EXPIRED');
    if (this.byPhone.has(phone)) badRequest('PHONE_NUMBER_OCCUPIED');
    if (!firstName.trim()) badRequest('FIRSTNAME_INVALID');
    const account: Account = { id: this.nextId++, phone, firstName, lastName, homeDc: homeDcOf(phone), peerFlood: false };
    this.byPhone.set(phone, account);
    this.byId.set(account.id, account);
    this.codes.delete(hash);
    this.keys.set(keyId, account.id);
    return account;
  }

  /**
   * The account an auth key is signed in as (core.telegram.org/api/errors#401-unauthorized): a key
   * not signed in is AUTH_KEY_UNREGISTERED, one whose session was terminated SESSION_REVOKED, and
   * a banned account's USER_DEACTIVATED_BAN.
   */
  forKey(keyId: string): Account {
    if (this.revokedKeys.has(keyId)) fail(401, 'SESSION_REVOKED');
    const id = this.keys.get(keyId);
    const account = id === undefined ? undefined : this.byId.get(id);
    if (account?.banned) fail(401, 'USER_DEACTIVATED_BAN');
    return account ?? fail(401, 'AUTH_KEY_UNREGISTERED');
  }

  /**
   * Every session of the account terminated from elsewhere (account.resetAuthorization from another
   * device, or Telegram's own doing): their keys then answer 401 SESSION_REVOKED. A stand-in hook.
   */
  revokeSessions(userId: bigint): void {
    for (const [keyId, id] of this.keys) {
      if (id !== userId) continue;
      this.keys.delete(keyId);
      this.revokedKeys.add(keyId);
    }
  }

  /** A bot as @BotFather makes one (outside MTProto): its token is "<bot id>:<secret>". A stand-in hook. */
  createBot(username: string): { bot: Account; token: string } {
    const bot: Account = {
      id: this.nextId++,
      phone: '',
      firstName: username,
      lastName: '',
      username,
      homeDc: 2,
      peerFlood: false,
      bot: true,
    };
    const token = `${bot.id}:${randomBytes(24).toString('base64url')}`;
    this.byId.set(bot.id, bot);
    this.botTokens.set(token, bot.id);
    return { bot, token };
  }

  /** auth.importBotAuthorization: an unknown token is 400 ACCESS_TOKEN_INVALID (core.telegram.org/method/auth.importBotAuthorization). */
  importBot(keyId: string, token: string): Account {
    const id = this.botTokens.get(token);
    const bot = id === undefined ? undefined : this.byId.get(id);
    if (!bot) return badRequest('ACCESS_TOKEN_INVALID');
    this.keys.set(keyId, bot.id);
    return bot;
  }

  /** The account whose password the key may prove: signed in, or past the code of a 2FA account. */
  passwordSubject(keyId: string): Account {
    const waiting = this.awaitingPassword.get(keyId);
    return (waiting === undefined ? undefined : this.byId.get(waiting)) ?? this.forKey(keyId);
  }

  /** The key is signed in as the account: a proven password, or an imported authorization. */
  authorize(keyId: string, account: Account): void {
    this.awaitingPassword.delete(keyId);
    this.keys.set(keyId, account.id);
  }

  /** auth.logOut, or a session terminated elsewhere: the key no longer has an account. */
  logOut(keyId: string): void {
    this.keys.delete(keyId);
  }

  byUserId(id: bigint): Account | undefined {
    return this.byId.get(id);
  }

  withPhone(phone: string): Account | undefined {
    return this.byPhone.get(digits(phone));
  }

  byUsername(username: string): Account | undefined {
    const lower = username.toLowerCase();
    return [...this.byId.values()].find((a) => a.username?.toLowerCase() === lower);
  }

  private checkCode(phone: string, hash: string, code: string): void {
    const pending = this.codes.get(hash);
    if (!pending) badRequest('PHONE_CODE_EXPIRED');
    if (pending?.phone !== phone) badRequest('PHONE_NUMBER_INVALID');
    if (code !== String(homeDcOf(phone)).repeat(5)) badRequest('PHONE_CODE_INVALID');
  }
}

/** The DC a test number belongs to; any other number is PHONE_NUMBER_INVALID here. */
export function homeDcOf(phone: string): number {
  const m = TEST_PHONE.exec(digits(phone));
  return m ? Number(m[1]) : badRequest('PHONE_NUMBER_INVALID');
}
