// The limits the model enforces. Telegram publishes exact figures only for bots; the defaults
// below take those where they exist and say where they come from. Tests and the stack may
// override any of them.
import type { Window } from './limits.ts';
import type { UploadConfig } from './media-config.ts';
import type { SignInConfig } from './sign-in-limits.ts';

export interface ModelConfig {
  /** Messages one account may send in total (bots FAQ: "about 30 messages per second"). */
  accountSend: Window;
  /** Messages one account may send to one chat (bots FAQ: "no more than 20 messages per minute in the same group"). */
  chatSend: Window;
  /**
   * contacts.resolveUsername calls per account (core.telegram.org/type/contacts.ResolvedPeer asks
   * clients for "at most 1 call every 3 seconds"; Telegram tolerates a short burst, whose size is ours).
   */
  resolve: Window;
  /** Usernames: 5–32 characters a-z, 0-9 and _, starting with a letter (core.telegram.org/method/account.updateUsername). */
  usernamePattern: RegExp;
  /** Uploads and media (./media-config.ts); only the fields given override its defaults. */
  uploads: Partial<UploadConfig>;
  /** Code lifetime and auth.sendCode allowance (./sign-in-limits.ts; Telegram publishes neither: ours). */
  signIn: SignInConfig;
}

export const DEFAULT_CONFIG: ModelConfig = {
  accountSend: { limit: 30, ms: 1_000 },
  chatSend: { limit: 20, ms: 60_000 },
  resolve: { limit: 5, ms: 15_000 },
  usernamePattern: /^[a-zA-Z][a-zA-Z0-9_]{3,30}[a-zA-Z0-9]$/,
  uploads: {},
  signIn: { codeLifetimeMs: 5 * 60_000, sendCode: { limit: 20, ms: 60 * 60_000 } },
};
