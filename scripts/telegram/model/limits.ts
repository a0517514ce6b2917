// Sliding-window rate limits keyed by anything (account, account+chat). Telegram publishes no
// exact figures for user accounts; the defaults in ./config.ts say where each number comes from.

export interface Window {
  /** How many calls are allowed within `ms`. */
  limit: number;
  ms: number;
}

export class RateLimits {
  private readonly hits = new Map<string, number[]>();

  /**
   * Seconds to wait before a call limited by every [key, window] pair may go, or 0; a call that
   * may go is counted under every key, a refused one under none.
   */
  take(limits: [string, Window][], now: number): number {
    let wait = 0;
    for (const [key, w] of limits) {
      const recent = (this.hits.get(key) ?? []).filter((t) => t > now - w.ms);
      this.hits.set(key, recent);
      if (recent.length >= w.limit) wait = Math.max(wait, ((recent[0] ?? now) + w.ms - now) / 1000);
    }
    if (wait === 0) { for (const [key] of limits) this.hits.get(key)?.push(now); }
    return wait;
  }
}
