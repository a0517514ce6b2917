// The worker's part of signing in through the API: publishes the workers' key for secrets in
// transit, takes sign-in steps (at once on a NOTIFY 'login', else every poll), opens each step's
// secret, performs it with GramJS, stores the session of a finished sign-in sealed (the fleet
// serves it within seconds) and answers. A sign-in in progress is held here at most LOGIN_TTL_MS.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { TelegramClient } from 'telegram';
import { createTelegramClient } from '../gateway/gramjs-gateway.ts';
import type { TelegramServer } from '../gateway/server.ts';
import type { Logger } from '../logger.ts';
import { storeSession } from '../sessions/store.ts';
import type { SessionKey } from '../sessions/vault.ts';
import { type LoginKey, loginKeyOf, openLoginSecret } from './seal.ts';
import { refusal, SignIn, type SignInApp, type StepResult } from './sign-in.ts';
import { answerLoginStep, publishLoginKey, takeLoginSteps, type TakenStep } from './store.ts';

/** As the database's private.login_ttl(): a sign-in is dropped 10 minutes after it started. */
export const LOGIN_TTL_MS = 10 * 60_000;
const TAKE_LIMIT = 10;
const CONNECT_ATTEMPTS = 2;

export interface LoginServiceDeps {
  pool: pg.Pool;
  log: Logger;
  /** The current session key first (sessions are stored under it), then a rotation's old ones. */
  sessionKeys: SessionKey[];
  app: SignInApp;
  server?: TelegramServer;
  pollMs: number;
}

interface Held {
  signIn: SignIn;
  timer: NodeJS.Timeout;
}

export class LoginService {
  readonly workerId = randomUUID();
  readonly #d: LoginServiceDeps;
  readonly #keys: LoginKey[];
  readonly #held = new Map<string, Held>();
  readonly #running = new Set<Promise<void>>();
  #poll: NodeJS.Timeout | null = null;
  #busy = false;
  #again = false;

  constructor(d: LoginServiceDeps) {
    this.#d = d;
    this.#keys = d.sessionKeys.map(loginKeyOf);
  }

  async start(): Promise<void> {
    await publishLoginKey(this.#d.pool, this.#keys[0]!);
    this.#poll = setInterval(() => this.#take(), this.#d.pollMs);
    this.#take();
  }

  /** A NOTIFY on pg-boss's channel; true if it was 'login' (a step was queued). */
  notified(payload: string): boolean {
    if (payload !== 'login') return false;
    this.#take();
    return true;
  }

  async stop(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = null;
    await Promise.allSettled([...this.#running]);
    for (const id of [...this.#held.keys()]) await this.#drop(id);
  }

  #take(): void {
    if (!this.#poll) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    const ids = this.#keys.map((k) => k.id);
    void takeLoginSteps(this.#d.pool, this.workerId, ids, TAKE_LIMIT)
      .then((steps) => steps.forEach((s) => this.#track(this.#perform(s))))
      .catch((err) => this.#d.log.warn({ err }, 'taking sign-in steps failed; trying again at the next poll'))
      .finally(() => {
        this.#busy = false;
        if (this.#again) {
          this.#again = false;
          this.#take();
        }
      });
  }

  #track(p: Promise<void>): void {
    this.#running.add(p);
    void p.finally(() => this.#running.delete(p));
  }

  async #perform(step: TakenStep): Promise<void> {
    const log = this.#d.log.child({ accountId: step.accountId, loginStep: step.kind });
    try {
      const key = this.#keys.find((k) => k.id === step.keyId)!;
      const secret = openLoginSecret(key, step.sealed, `${step.accountId}:${step.kind}`);
      const result = await this.#run(step, secret);
      if (result.session) await storeSession(this.#d.pool, this.#d.sessionKeys[0]!, step.accountId, result.session);
      if (result.finished) await this.#drop(step.accountId);
      await answerLoginStep(this.#d.pool, step.id, result.answer, result);
      log.info({ state: result.answer.state, error: result.answer.error?.code }, 'sign-in step answered');
    } catch (err) {
      // Only the error's name and message: a GramJS error carries its request, with the secret.
      log.error({ error: refusal(err).code, reason: String((err as Error)?.message).slice(0, 200) }, 'sign-in step failed');
      await this.#drop(step.accountId);
      await answerLoginStep(this.#d.pool, step.id, { state: 'failed', error: { code: refusal(err).code } }, {
        wrongSecret: false,
        finished: true,
      }).catch(() => {});
    }
  }

  async #run(step: TakenStep, secret: string): Promise<StepResult> {
    if (step.kind === 'phone' || step.kind === 'bot') {
      await this.#drop(step.accountId);
      const signIn = await this.#hold(step.accountId, step.label);
      return signIn.step(() => step.kind === 'bot' ? signIn.importBot(secret) : signIn.sendCode(secret));
    }
    const signIn = this.#held.get(step.accountId)?.signIn;
    // This worker restarted, or the sign-in expired here: the user starts again.
    if (!signIn) return { answer: { state: 'failed', error: { code: 'LOGIN_EXPIRED' } }, wrongSecret: false, finished: true };
    return signIn.step(() => step.kind === 'code' ? signIn.signIn(secret) : signIn.checkPassword(secret));
  }

  async #hold(accountId: string, label: string): Promise<SignIn> {
    const signIn = new SignIn(await this.#connected(), this.#d.app, label);
    const timer = setTimeout(() => void this.#drop(accountId), LOGIN_TTL_MS);
    timer.unref();
    this.#held.set(accountId, { signIn, timer });
    return signIn;
  }

  /** A new client, connected: a failed key exchange is tried again once with a fresh client. */
  async #connected(): Promise<TelegramClient> {
    const { app, server } = this.#d;
    for (let attempt = 1;; attempt++) {
      // Retries: a PHONE_MIGRATE switches the DC and asks again.
      const client = createTelegramClient({ session: '', ...app, server }, { requestRetries: 3 });
      // A new session starts on GramJS's default DC (4); another server's starts on its first.
      const first = server?.dcs[0];
      if (first) client.session.setDC(first.id, first.host, first.port);
      try {
        await client.connect();
        return client;
      } catch (err) {
        await client.destroy().catch(() => {});
        if (attempt >= CONNECT_ATTEMPTS) throw err;
      }
    }
  }

  async #drop(accountId: string): Promise<void> {
    const held = this.#held.get(accountId);
    if (!held) return;
    this.#held.delete(accountId);
    clearTimeout(held.timer);
    await held.signIn.client.destroy().catch(() => {});
  }
}
