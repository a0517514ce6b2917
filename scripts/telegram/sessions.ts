// STAND-IN ONLY: signed-in sessions made by the stand-in itself, for benchmarks that need many
// accounts. Telegram has nothing like it: a real session comes from the auth key exchange
// (core.telegram.org/mtproto/auth_key) and a sign-in on that key (core.telegram.org/api/auth).
// Both happen here in their effects only: the DC is given a random 256-byte key as if the
// exchange had made it, and the model binds the test number's account to that key through its
// own sendCode / signIn / signUp with the test number's code. The client gets a GramJS
// StringSession holding the key, the DC id, host and port, like one saved after a login, so its
// first call is initConnection on an existing key. It saves the exchange's 2048-bit arithmetic in
// JavaScript (about 0.6 s a client on a loaded 2-core box), which dominates signing in 1,000 clients.
import { randomBytes } from 'node:crypto';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { StringSession } from 'telegram/sessions/index.js';
import { homeDcOf } from './model/accounts.ts';
import type { Account } from './model/state.ts';
import type { TelegramStandIn } from './mtproto/server.ts';

export interface SeededSession {
  account: Account;
  /** A GramJS StringSession on the number's home DC; a secret like any session. */
  session: string;
}

/**
 * Stand-in only: a session signed in as the test number `phone` (99966XYYYY, DC X), its account
 * signed up first when the number is new. An account with a password is refused, as its sign-in
 * would need the password.
 */
export async function seedSession(
  standIn: TelegramStandIn,
  phone: string,
  names: { firstName?: string; lastName?: string } = {},
): Promise<SeededSession> {
  const dcId = homeDcOf(phone);
  const dc = standIn.dcs.find((d) => d.id === dcId);
  if (!dc) throw new Error(`the stand-in serves no DC ${dcId} (the home DC of ${phone})`);
  const key = randomBytes(256);
  const keyId = standIn.registerAuthKey(dcId, key);
  const accounts = standIn.model.accounts;
  const { phoneCodeHash } = accounts.sendCode(phone, dcId);
  const signedIn = accounts.signIn(keyId, phone, phoneCodeHash, String(dcId).repeat(5));
  const account = signedIn !== 'sign-up'
    ? signedIn
    : accounts.signUp(keyId, phone, phoneCodeHash, names.firstName ?? `User ${phone.slice(-4)}`, names.lastName ?? '');
  const session = new StringSession('');
  session.setDC(dcId, dc.host, dc.port);
  const authKey = new AuthKey();
  await authKey.setKey(key);
  session.setAuthKey(authKey);
  return { account, session: session.save() };
}

/** Stand-in only: `count` seeded sessions for test numbers 99966<dc>NNNN from `first` on. */
export async function seedSessions(
  standIn: TelegramStandIn,
  count: number,
  opts: { dcId?: number; first?: number } = {},
): Promise<SeededSession[]> {
  const dcId = opts.dcId ?? standIn.dcs[0]!.id;
  const first = opts.first ?? 1;
  if (first + count - 1 > 9999) throw new Error('a DC has test numbers 0000–9999 only');
  const out: SeededSession[] = [];
  for (let i = 0; i < count; i++) out.push(await seedSession(standIn, `99966${dcId}${String(first + i).padStart(4, '0')}`));
  return out;
}
