// Whether Telegram answers an account's session. After a timeout or a dropped connection the
// account probes (help.getNearestDc); if the probe fails too, Telegram is unreachable: the
// account stops sending, its deliveries wait without spending attempts, and it probes again
// with a growing pause (1 s … 5 s: a probe costs one small request) until Telegram answers,
// then sends again by itself. After a probe left unanswered, the next one reconnects the session
// first: a connection opened while Telegram was unreachable may stay silent after it is back
// (GramJS's ping loop replaces it only after its pings time out), and each probe needs a fresh one.
import type { WorkerConfig } from './config.ts';
import { SendTimeoutError, withTimeout } from './errors.ts';
import type { TelegramGateway } from './gateway/types.ts';

const MAX_RETRY_MS = 5_000;

export class Reachability {
  readonly #gateway: TelegramGateway;
  readonly #timeoutMs: number;
  readonly #hooks: { lost(reason: string): void; back(): void };
  #checking: Promise<boolean> | null = null;
  #down = false;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  /** The last probe got no answer: the next goes through a new connection. */
  #silent = false;

  constructor(
    gateway: TelegramGateway,
    config: Pick<WorkerConfig, 'probeTimeoutMs'>,
    hooks: { lost(reason: string): void; back(): void },
  ) {
    this.#gateway = gateway;
    this.#timeoutMs = config.probeTimeoutMs;
    this.#hooks = hooks;
  }

  get reachable(): boolean {
    return !this.#down;
  }

  /** After a failure that may be the network's: true if Telegram still answers. */
  check(reason: string): Promise<boolean> {
    if (this.#down) return Promise.resolve(false);
    this.#checking ??= this.#probe(() => this.#gateway.probe()).then((ok) => {
      this.#checking = null;
      if (!ok) this.lose(reason);
      return ok;
    });
    return this.#checking;
  }

  /** Telegram is unreachable; `connect` is how to come back (the session's start when it never connected). */
  lose(reason: string, connect: () => Promise<void> = () => this.#gateway.probe()): void {
    if (this.#down || this.#stopped) return;
    this.#down = true;
    this.#hooks.lost(reason);
    this.#retry(connect, 1_000);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #retry(connect: () => Promise<void>, waitMs: number): void {
    this.#timer = setTimeout(() => {
      void this.#probe(connect).then((ok) => {
        if (this.#stopped) return;
        if (!ok) return this.#retry(connect, Math.min(MAX_RETRY_MS, waitMs * 2));
        this.#down = false;
        this.#hooks.back();
      });
    }, waitMs);
    this.#timer.unref();
  }

  /** The reconnect is within the probe's time: while Telegram stays unreachable, its initConnection is not answered either. */
  async #probe(call: () => Promise<void>): Promise<boolean> {
    const reconnect = this.#silent;
    const attempt = async () => {
      if (reconnect) await this.#gateway.reconnect();
      await call();
    };
    try {
      await withTimeout(attempt(), this.#timeoutMs, 'probe');
      this.#silent = false;
      return true;
    } catch (err) {
      this.#silent = err instanceof SendTimeoutError;
      return false;
    }
  }
}
