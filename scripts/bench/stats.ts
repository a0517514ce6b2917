// Small, dependency-free statistics for the benchmark and fault reports.

/** Linear-interpolated percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = (Math.min(Math.max(p, 0), 100) / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    min: n ? Math.min(...values) : Number.NaN,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    max: n ? Math.max(...values) : Number.NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : Number.NaN,
  };
}

/**
 * Events per second in consecutive windows of `bucketMs` starting at `t0` (epoch ms):
 * [seconds since t0 at the window's middle, rate]. The chart's data.
 */
export function ratePerSecond(times: readonly number[], t0: number, bucketMs: number): Array<[number, number]> {
  if (!times.length) return [];
  const end = Math.max(...times);
  const buckets = new Array<number>(Math.max(1, Math.ceil((end - t0 + 1) / bucketMs))).fill(0);
  for (const t of times) {
    const i = Math.floor((t - t0) / bucketMs);
    if (i >= 0 && i < buckets.length) buckets[i]! += 1;
  }
  return buckets.map((n, i) => [((i + 0.5) * bucketMs) / 1000, (n * 1000) / bucketMs]);
}

/**
 * The most events inside any window of `windowMs` (sliding, anchored at each event): a
 * pacing check that does not depend on where fixed buckets fall.
 */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const s = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < s.length; hi++) {
    while (s[hi]! - s[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

export const round = (v: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
