// One sign-in in progress, as Telegram's login flow goes (core.telegram.org/api/auth): auth.sendCode
// for a phone number (GramJS follows PHONE_MIGRATE_X to the number's DC), auth.signIn with the
// code (auth.signUp when the number has no account yet), and for an account with two-step
// verification account.getPassword and auth.checkPassword with an SRP proof
// (core.telegram.org/api/srp, computed by GramJS); or auth.importBotAuthorization for a bot.
// The client, the phone_code_hash and the DC stay here between steps, and are stored sealed after
// each (SignInState): the code and the password are accepted only on the auth key the code was
// sent on, so another worker goes on with the same session string.
import { Api, type TelegramClient } from 'telegram';
import { computeCheck } from 'telegram/Password.js';
import { telegramName, withTimeout } from '../errors.ts';
import type { StepAnswer } from './store.ts';

export interface SignInApp {
  apiId: number;
  apiHash: string;
}

/** A step's outcome: the answer, and for a finished sign-in its StringSession (a secret). */
export interface StepResult {
  answer: StepAnswer;
  wrongSecret: boolean;
  /** Set when signed in: store it, then drop the sign-in. */
  session?: string;
  /** The sign-in is over (signed in, or refused for good). */
  finished: boolean;
}

/**
 * What another worker needs to go on with a sign-in: the session (the auth key the code was sent
 * on, and its DC), the number, the phone_code_hash and the state. Every field is a secret.
 */
export interface SignInState {
  session: string;
  phone: string;
  phoneCodeHash: string;
  state: StepAnswer['state'] | null;
}

/** Within the function's wait for the answer (30 s), DC switch included. */
const STEP_TIMEOUT_MS = 25_000;

/** Refusals that leave the sign-in waiting for another try of the same step. */
const RETRYABLE = new Set(['PHONE_CODE_INVALID', 'PASSWORD_HASH_INVALID']);

/** Telegram's error as the API names it: FLOOD_WAIT with its seconds, others by their name. */
export function refusal(err: unknown): { code: string; seconds: number | null } {
  // No answer from Telegram (a timeout, a dropped connection): the step did not get through.
  const name = telegramName(err) ?? 'TELEGRAM_UNREACHABLE';
  const flood = /^FLOOD_(?:TEST_PHONE_)?WAIT_(\d+)$/.exec(name);
  return flood ? { code: 'FLOOD_WAIT', seconds: Number(flood[1]) } : { code: name, seconds: null };
}

/** `auth.SentCodeTypeFlashCall` → `flash_call`. */
const codeTypeName = (t: Api.auth.TypeSentCodeType) =>
  t.className.replace(/^auth\.SentCodeType/, '').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();

export class SignIn {
  readonly client: TelegramClient;
  readonly #app: SignInApp;
  /** A number without an account signs up with this first name (the account's label). */
  readonly #firstName: string;
  #phone = '';
  #phoneCodeHash = '';
  #state: StepAnswer['state'] | null = null;

  /** `from`: the state of a sign-in started elsewhere, `client` connected with its session. */
  constructor(client: TelegramClient, app: SignInApp, firstName: string, from?: SignInState) {
    this.client = client;
    this.#app = app;
    this.#firstName = firstName;
    this.#phone = from?.phone ?? '';
    this.#phoneCodeHash = from?.phoneCodeHash ?? '';
    this.#state = from?.state ?? null;
  }

  snapshot(): SignInState {
    const session = this.client.session.save() as unknown as string;
    return { session, phone: this.#phone, phoneCodeHash: this.#phoneCodeHash, state: this.#state };
  }

  /** Runs a step; a refusal becomes the answer (failed, or the same state again with its error). */
  async step(run: () => Promise<StepResult>): Promise<StepResult> {
    try {
      const r = await withTimeout(run(), STEP_TIMEOUT_MS, 'sign-in step');
      this.#state = r.answer.state;
      return r;
    } catch (err) {
      const error = refusal(err);
      const again = RETRYABLE.has(error.code) && this.#state !== null;
      return {
        answer: { state: again ? this.#state! : 'failed', error },
        wrongSecret: RETRYABLE.has(error.code),
        finished: !again,
      };
    }
  }

  async sendCode(phone: string): Promise<StepResult> {
    this.#phone = phone.replace(/\D/g, '');
    const sent = await this.client.invoke(
      new Api.auth.SendCode({ phoneNumber: this.#phone, ...this.#app, settings: new Api.CodeSettings({}) }),
    );
    if (sent instanceof Api.auth.SentCodeSuccess) return this.#signedIn();
    this.#phoneCodeHash = sent.phoneCodeHash;
    const type = sent.type as Api.auth.TypeSentCodeType & { length?: number };
    return {
      answer: {
        state: 'code_sent',
        codeType: codeTypeName(type),
        codeLength: type.length ?? null,
        timeoutSeconds: sent.timeout ?? null,
      },
      wrongSecret: false,
      finished: false,
    };
  }

  async signIn(code: string): Promise<StepResult> {
    const base = { phoneNumber: this.#phone, phoneCodeHash: this.#phoneCodeHash };
    try {
      const auth = await this.client.invoke(new Api.auth.SignIn({ ...base, phoneCode: code }));
      if (auth instanceof Api.auth.AuthorizationSignUpRequired) {
        await this.client.invoke(new Api.auth.SignUp({ ...base, firstName: this.#firstName, lastName: '' }));
      }
      return this.#signedIn();
    } catch (err) {
      if (telegramName(err) !== 'SESSION_PASSWORD_NEEDED') throw err;
      const password = await this.client.invoke(new Api.account.GetPassword());
      return { answer: { state: 'password_needed', hint: password.hint ?? null }, wrongSecret: false, finished: false };
    }
  }

  async checkPassword(password: string): Promise<StepResult> {
    // Each SRP challenge serves one proof: a fresh one for every try.
    const challenge = await this.client.invoke(new Api.account.GetPassword());
    await this.client.invoke(new Api.auth.CheckPassword({ password: await computeCheck(challenge, password) }));
    return this.#signedIn();
  }

  async importBot(botAuthToken: string): Promise<StepResult> {
    await this.client.invoke(new Api.auth.ImportBotAuthorization({ flags: 0, ...this.#app, botAuthToken }));
    return this.#signedIn();
  }

  #signedIn(): StepResult {
    const session = this.client.session.save() as unknown as string;
    return { answer: { state: 'signed_in' }, wrongSecret: false, session, finished: true };
  }
}
