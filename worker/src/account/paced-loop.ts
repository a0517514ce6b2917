// Where the account picks its next paced piece of work and runs it through its pacer. Each kind
// of work (today: deliveries) offers the piece whose slot has come, or says when one will; the
// loop asks the kinds in order, takes the slot of the first piece offered and runs it, up to
// sendConcurrency pieces in flight, else sleeps until the earliest slot. A new kind of paced work
// is one more PacedWork in the account's list.
import type { AccountPacer } from '../pacing.ts';
import { clock } from '../pacing.ts';

/** A piece of work whose slot has come: `slot` is the pacer's key (a campaign's id), `rate` its cap. */
export interface PacedPiece {
  slot: string;
  rate: number | null;
  run(): Promise<void>;
}

/**
 * No piece now: the next slot comes at `at` (Infinity: none, or the work waits on something
 * that pumps again itself); empty: this kind has nothing waiting at all.
 */
export interface NotYet {
  at: number;
  empty: boolean;
}

export interface PacedWork {
  /** The next piece whose slot has come by `now` (the pacer's clock), taken off this kind's queue. */
  next(now: number): PacedPiece | NotYet;
}

export class PacedLoop {
  readonly #pacer: AccountPacer;
  readonly #kinds: readonly PacedWork[];
  readonly #concurrency: number;
  /** Called when a piece finishes or a slot comes: the account pumps again. */
  readonly #pump: () => void;
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = 0;
  /** Nothing was waiting since the last piece: the next one starts the pace afresh. */
  #idle = true;

  constructor(pacer: AccountPacer, kinds: readonly PacedWork[], concurrency: number, pump: () => void) {
    this.#pacer = pacer;
    this.#kinds = kinds;
    this.#concurrency = concurrency;
    this.#pump = pump;
  }

  /** Work was waiting all along: a late slot is the machine's delay (the pacer's backlogged). */
  get backlogged(): boolean {
    return !this.#idle;
  }

  /** Starts every piece whose slot has come, up to the concurrency in flight; else a timer. */
  fill(): void {
    while (this.#inFlight.size < this.#concurrency) {
      const now = clock();
      const p = this.#next(now);
      if ('at' in p) {
        if (Number.isFinite(p.at)) this.#armTimer(p.at - now);
        else if (p.empty) this.#idle = true;
        break;
      }
      this.#pacer.take(p.slot, p.rate, !this.#idle);
      this.#idle = false;
      const running = p.run().finally(() => {
        this.#inFlight.delete(running);
        this.#pump();
      });
      this.#inFlight.add(running);
    }
  }

  /** Every piece in flight has finished. */
  async settled(): Promise<void> {
    await Promise.all(this.#inFlight);
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    // Started again later (handed back to this worker), the next wait arms a timer of its own.
    this.#timer = null;
  }

  /** The first kind's piece whose slot has come, else the earliest slot of them all. */
  #next(now: number): PacedPiece | NotYet {
    const none: NotYet = { at: Number.POSITIVE_INFINITY, empty: true };
    for (const kind of this.#kinds) {
      const p = kind.next(now);
      if (!('at' in p)) return p;
      none.at = Math.min(none.at, p.at);
      none.empty &&= p.empty;
    }
    return none;
  }

  #armTimer(ms: number): void {
    const at = Date.now() + ms;
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    // A timer sleeps 1 ms at least; a sub-millisecond wait yields to I/O once instead.
    const fire = () => {
      this.#timer = null;
      this.#pump();
    };
    this.#timer = ms < 1 ? (setImmediate(fire) as unknown as NodeJS.Timeout) : setTimeout(fire, ms);
  }
}
