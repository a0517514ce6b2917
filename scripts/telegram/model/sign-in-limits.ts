// Limits of Telegram's sign-in (core.telegram.org/api/auth): a login code is valid for a limited
// time, after which auth.signIn answers 400 PHONE_CODE_EXPIRED ("The phone code you provided has
// expired", core.telegram.org/method/auth.signIn), and auth.sendCode asked too often for one
// number answers 420 FLOOD_WAIT_X (core.telegram.org/method/auth.sendCode,
// core.telegram.org/api/errors#420-flood). Telegram publishes neither figure: the defaults in
// ./config.ts are ours.
import { badRequest, floodWait } from './errors.ts';
import { RateLimits, type Window } from './limits.ts';

export interface SignInConfig {
  /** How long a code stays valid after auth.sendCode. */
  codeLifetimeMs: number;
  /** auth.sendCode calls per phone number. */
  sendCode: Window;
}

const digits = (phone: string) => phone.replace(/\D/g, '');

export class SignInLimits {
  private readonly issuedAt = new Map<string, number>();
  private readonly limits = new RateLimits();
  private readonly config: () => SignInConfig;
  private readonly now: () => number;

  constructor(config: () => SignInConfig, now: () => number) {
    this.config = config;
    this.now = now;
  }

  /** Before auth.sendCode: FLOOD_WAIT_X past the number's allowance. */
  beforeSendCode(phone: string): void {
    const wait = this.limits.take([[`sendCode:${digits(phone)}`, this.config().sendCode]], this.now());
    if (wait > 0) floodWait(wait);
  }

  /** auth.sendCode gave this phone_code_hash now. */
  issued(phoneCodeHash: string): void {
    this.issuedAt.set(phoneCodeHash, this.now());
  }

  /** Before auth.signIn / auth.signUp: PHONE_CODE_EXPIRED once the code's lifetime is over. */
  assertFresh(phoneCodeHash: string): void {
    const at = this.issuedAt.get(phoneCodeHash);
    if (at !== undefined && this.now() - at > this.config().codeLifetimeMs) badRequest('PHONE_CODE_EXPIRED');
  }
}
