// A clock for the Telegram simulator that moves only when the test moves it: latency, processing
// time and outages then last exactly what the test says, however busy the machine is.
import type { SimulatorClock } from '../src/simulator/options.ts';

/** Lets everything already started run until it waits again (GramJS's invoke, the simulator). */
const settle = () => new Promise<void>((r) => setImmediate(r));

export class ManualClock implements SimulatorClock {
  #now: number;
  #sleepers: Array<{ at: number; wake: () => void }> = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => this.#sleepers.push({ at: this.#now + ms, wake }));
  }

  /** Moves time on by ms, waking each sleeper due meanwhile at its own time, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      this.#sleepers.sort((a, b) => a.at - b.at);
      const next = this.#sleepers[0];
      if (!next || next.at > end) break;
      this.#sleepers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.wake();
      await settle();
    }
    this.#now = end;
  }

  /** Moves time on 1 ms at a time until p settles (at most maxMs), then returns its result. */
  async run<T>(p: Promise<T>, maxMs = 60_000): Promise<T> {
    const r: { settled?: { value: T } | { error: unknown } } = {};
    p.then((value) => (r.settled = { value }), (error: unknown) => (r.settled = { error }));
    for (let t = 0; !r.settled && t < maxMs; t++) await this.advance(1);
    if (!r.settled) throw new Error(`still pending after ${maxMs} ms of test time`);
    if ('error' in r.settled) throw r.settled.error;
    return r.settled.value;
  }
}
