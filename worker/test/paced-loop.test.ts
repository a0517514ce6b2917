// The account's paced loop with two kinds of paced work sharing one pacer, as a new kind (edits
// of sent posts, say) would be added next to the deliveries.
import { describe, expect, it, vi } from 'vitest';
import { type NotYet, PacedLoop, type PacedPiece, type PacedWork } from '../src/account/paced-loop.ts';
import { AccountPacer } from '../src/pacing.ts';

/** Pieces started (in order), running now, and most at once, over every kind. */
interface Runs {
  started: string[];
  finished: number;
  inFlight: number;
  maxInFlight: number;
}

/** A kind of work: a list of items, each taking `ms` to run, under the pacer key `slot`. */
class ListWork implements PacedWork {
  readonly #slot: string;
  readonly #items: string[];
  readonly #runs: Runs;
  readonly #pacer: AccountPacer;
  readonly #ms: number;

  constructor(slot: string, items: string[], runs: Runs, pacer: AccountPacer, ms: number) {
    this.#slot = slot;
    this.#items = items;
    this.#runs = runs;
    this.#pacer = pacer;
    this.#ms = ms;
  }

  next(now: number): PacedPiece | NotYet {
    if (!this.#items.length) return { at: Number.POSITIVE_INFINITY, empty: true };
    const at = this.#pacer.slotAt(this.#slot, null);
    if (at > now) return { at, empty: false };
    const item = this.#items.shift()!;
    return { slot: this.#slot, rate: null, run: () => this.#run(item) };
  }

  async #run(item: string): Promise<void> {
    const r = this.#runs;
    r.started.push(item);
    r.maxInFlight = Math.max(r.maxInFlight, ++r.inFlight);
    await new Promise((done) => setTimeout(done, this.#ms));
    r.inFlight--;
    r.finished++;
  }
}

describe('paced loop', () => {
  it('runs every kind through the one pacer, asked in order, within the concurrency, then idles', async () => {
    const pacer = new AccountPacer(600); // one slot every 100 ms
    const grants: Array<{ slot: string; at: number }> = [];
    const take = pacer.take.bind(pacer);
    pacer.take = (slot, rate, backlogged, at) => {
      const t = take(slot, rate, backlogged, at);
      grants.push({ slot, at: t });
      return t;
    };
    const runs: Runs = { started: [], finished: 0, inFlight: 0, maxInFlight: 0 };
    // Each piece outlasts 3 slots: without the concurrency of 2, up to 4 would run at once.
    const deliveries = new ListWork('campaign-1', ['d1', 'd2', 'd3'], runs, pacer, 350);
    const edits = new ListWork('edits', ['e1', 'e2'], runs, pacer, 350);
    const loop: PacedLoop = new PacedLoop(pacer, [deliveries, edits], 2, () => loop.fill());
    loop.fill();
    await vi.waitFor(() => expect(runs.started).not.toEqual([]));
    expect(loop.backlogged).toBe(true);
    await vi.waitFor(() => expect(runs.finished).toBe(5), { timeout: 10_000 });
    // The first kind offers a piece whenever the account's slot comes, so the second waits for it.
    expect(runs.started).toEqual(['d1', 'd2', 'd3', 'e1', 'e2']);
    expect(grants.map((g) => g.slot)).toEqual(['campaign-1', 'campaign-1', 'campaign-1', 'edits', 'edits']);
    // One pace across both kinds: the i-th slot comes i intervals after the first at the earliest
    // (a late slot may be caught up on, never the schedule).
    grants.forEach((g, i) => expect(g.at - grants[0]!.at).toBeGreaterThanOrEqual(i * 100 - 1));
    expect(runs.maxInFlight).toBe(2);
    await loop.settled();
    // Nothing left of either kind: the next piece starts the pace afresh.
    expect(loop.backlogged).toBe(false);
    loop.stop();
  });
});
