// Sliding-window rate limits keyed by anything (account, account+chat). Telegram publishes no
// exact figures for user accounts; the defaults in ./config.ts say where each number comes from.

export interface Window {
  /** How many calls are allowed within `ms`. */
  limit: number;
  ms: number;
}

export class RateLimits {
  private readonly hits = new Map<string, number[]>();

  /** Seconds to wait before `key` may act again under `w`, or 0 (and the call is counted). */
  take(key: string, w: Window, now: number): number {
    const recent = (this.hits.get(key) ?? []).filter((t) => t > now - w.ms);
    if (recent.length >= w.limit) {
      this.hits.set(key, recent);
      return ((recent[0] ?? now) + w.ms - now) / 1000;
    }
    recent.push(now);
    this.hits.set(key, recent);
    return 0;
  }
}
