// What a client sees: a separate connection, acting as the campaign's owner under RLS, polls
// campaigns.sent_count. Polling every few ms bounds the observation error by that interval.
import pg from 'pg';
import { asUser } from '../lib/database.ts';
import { now } from './seed.ts';

export interface Observation {
  at: number;
  sent: number;
}

export interface Observer {
  /** Stops polling; returns the changes seen (time, total sent over the campaigns). */
  stop(): Promise<Observation[]>;
}

export async function observeProgress(url: string, userId: string, campaignIds: string[], everyMs = 10): Promise<Observer> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  const seen: Observation[] = [];
  let running = true;
  const loop = (async () => {
    let last = -1;
    while (running) {
      const sent = await asUser(c, userId, async (t) =>
        Number(
          (await t.query(
            'select coalesce(sum(sent_count), 0) as s from public.campaigns where id = any($1::uuid[])',
            [campaignIds],
          )).rows[0].s,
        ));
      const at = now();
      if (sent !== last) {
        seen.push({ at, sent });
        last = sent;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.catch(() => {});
      await c.end().catch(() => {});
      return seen;
    },
  };
}

/**
 * Latency of each send to visibility: the k-th send (by Telegram-side time) counts as visible
 * when the observed counter first reaches k. Commit order can differ slightly from send order
 * inside a batch; matching by rank measures how far the visible counter trails Telegram.
 */
export function visibilityLatencies(sendTimes: readonly number[], seen: readonly Observation[]): number[] {
  const sends = [...sendTimes].sort((a, b) => a - b);
  const out: number[] = [];
  let j = 0;
  for (let k = 1; k <= sends.length; k++) {
    while (j < seen.length && seen[j]!.sent < k) j++;
    if (j >= seen.length) break; // never seen (the observer stopped first)
    out.push(Math.max(0, seen[j]!.at - sends[k - 1]!));
  }
  return out;
}
