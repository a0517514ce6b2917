// The worker's part of signing in through the API: publishes the workers' key for secrets in
// transit, takes sign-in steps (at once on a NOTIFY 'login', else every poll), opens each step's
// secret, performs it with GramJS through the account's proxy, stores the session of a finished
// sign-in sealed (the fleet serves it within seconds) and answers. After each step that leaves the
// sign-in waiting, its state is stored sealed too: any worker goes on with the next step, so a
// sign-in outlives the worker that started it. A sign-in is held here at most LOGIN_TTL_MS. Each
// look also re-seals the proxies owners set (proxies.ts).
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { TelegramClient } from 'telegram';
import { inTransaction } from '../db.ts';
import { createTelegramClient } from '../gateway/gramjs-gateway.ts';
import type { TelegramServer } from '../gateway/server.ts';
import type { Logger } from '../logger.ts';
import { storeSession } from '../sessions/store.ts';
import { openSealed, seal, type SessionKey, SessionKeyError } from '../sessions/vault.ts';
import { foldProxies, signInProxy, storeProxy } from './proxies.ts';
import { type LoginKey, loginKeyOf, openLoginSecret } from './seal.ts';
import { refusal, SignIn, type SignInApp, type SignInState, type StepResult } from './sign-in.ts';
import { answerLoginStep, publishLoginKey, storeLoginState, takeLoginSteps, type TakenStep } from './store.ts';

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
  /** Local development and tests only: a proxy may be a loopback or private address. */
  proxyAllowPrivate: boolean;
  pollMs: number;
  /**
   * The backend pid of the worker's lock session (0 while it is down): a step is taken for it, so
   * that the database hands the step on (or answers it) once the session is gone with the worker.
   */
  lockPid(): number;
}

interface Held {
  signIn: SignIn;
  timer: NodeJS.Timeout;
  /** The nonce of the state stored or read last here: another one means another worker went on with it. */
  stateNonce: Buffer | null;
}

const EXPIRED: StepResult = { answer: { state: 'failed', error: { code: 'LOGIN_EXPIRED' } }, wrongSecret: false, finished: true };

export class LoginService {
  readonly workerId = randomUUID();
  readonly #d: LoginServiceDeps;
  readonly #keys: LoginKey[];
  readonly #held = new Map<string, Held>();
  readonly #running = new Set<Promise<void>>();
  /** Queued proxies that did not open, reported once. */
  readonly #unopenedProxies = new Set<string>();
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
    const { pool, log, sessionKeys } = this.#d;
    const lockPid = this.#d.lockPid();
    // Without its lock session a worker takes no step: it could not be told from a dead one.
    void (lockPid ? takeLoginSteps(pool, this.workerId, ids, TAKE_LIMIT, lockPid) : Promise.resolve([]))
      .then((steps) => steps.forEach((s) => this.#track(this.#perform(s))))
      .then(() => foldProxies(pool, this.#keys, sessionKeys[0]!, log, this.#unopenedProxies))
      .catch((err) => log.warn({ err }, 'taking sign-in steps or proxies failed; trying again at the next poll'))
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
    log.info('sign-in step taken');
    try {
      const key = this.#keys.find((k) => k.id === step.keyId)!;
      const secret = openLoginSecret(key, step.sealed, `${step.accountId}:${step.kind}`);
      const result = await this.#run(step, secret);
      if (result.session) await this.#storeSignedIn(step.accountId, result.session);
      else if (!result.finished) await this.#storeState(step.accountId);
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
    const signIn = await this.#resume(step);
    // No state to go on with (it expired, or it is sealed under a key this worker lacks): start again.
    if (!signIn) return EXPIRED;
    return signIn.step(() => step.kind === 'code' ? signIn.signIn(secret) : signIn.checkPassword(secret));
  }

  /** The sign-in as its last step left it: held here, or taken up from its stored state. */
  async #resume(step: TakenStep): Promise<SignIn | null> {
    const held = this.#held.get(step.accountId);
    if (!step.state) return held?.signIn ?? null;
    if (held?.stateNonce?.equals(step.state.nonce)) return held.signIn;
    await this.#drop(step.accountId);
    let state: SignInState;
    try {
      state = JSON.parse(openSealed(this.#d.sessionKeys, step.state)) as SignInState;
    } catch (err) {
      if (err instanceof SessionKeyError) return null;
      throw err;
    }
    const signIn = await this.#hold(step.accountId, step.label, state);
    this.#held.get(step.accountId)!.stateNonce = step.state.nonce;
    this.#d.log.info({ accountId: step.accountId }, 'sign-in taken up from its stored state');
    return signIn;
  }

  async #hold(accountId: string, label: string, from?: SignInState): Promise<SignIn> {
    const signIn = new SignIn(await this.#connected(accountId, from?.session ?? ''), this.#d.app, label, from);
    const timer = setTimeout(() => void this.#drop(accountId), LOGIN_TTL_MS);
    timer.unref();
    this.#held.set(accountId, { signIn, timer, stateNonce: null });
    return signIn;
  }

  /** Seals the held sign-in's state under the session key, for whichever worker takes the next step. */
  async #storeState(accountId: string): Promise<void> {
    const held = this.#held.get(accountId);
    if (!held) return;
    const sealed = seal(this.#d.sessionKeys[0]!, JSON.stringify(held.signIn.snapshot()));
    await storeLoginState(this.#d.pool, accountId, sealed);
    held.stateNonce = sealed.nonce;
  }

  /** The new session, and the queued proxy its sign-in went through, stored at once: the fleet never serves it without. */
  async #storeSignedIn(accountId: string, session: string): Promise<void> {
    const key = this.#d.sessionKeys[0]!;
    await inTransaction(this.#d.pool, async (c) => {
      await storeSession(c, key, accountId, session);
      const { queued } = await signInProxy(c, accountId, this.#keys, this.#d.sessionKeys);
      if (queued) await storeProxy(c, key, queued);
    });
  }

  /**
   * A client connected through the account's proxy: a new session (on the server's first DC), or
   * a sign-in's stored one. A failed key exchange is tried again once with a fresh client.
   */
  async #connected(accountId: string, session: string): Promise<TelegramClient> {
    const { app, server, pool, proxyAllowPrivate } = this.#d;
    const { proxy } = await signInProxy(pool, accountId, this.#keys, this.#d.sessionKeys);
    for (let attempt = 1;; attempt++) {
      // Retries: a PHONE_MIGRATE switches the DC and asks again.
      const client = createTelegramClient({ session, ...app, server, proxy, proxyAllowPrivate }, {
        requestRetries: 3,
      });
      // A new session starts on GramJS's default DC (4); another server's starts on its first.
      const first = server?.dcs[0];
      if (first && !session) client.session.setDC(first.id, first.host, first.port);
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
