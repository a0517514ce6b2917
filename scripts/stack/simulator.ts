// Duplicate check against what the simulated Telegram actually posted: the worker's simulator
// keeps every message in the stack's database (telegram_sim.messages), so it can be counted
// per peer from outside the worker process.
import { PostgresMessageStore } from '../../worker/src/simulator/store.ts';

/** Messages posted beyond the first, summed over `peers` (0 when every target got exactly one). */
export async function simulatorDuplicates(dbUrl: string, peers: string[]): Promise<number> {
  const store = new PostgresMessageStore(dbUrl);
  try {
    const counts = await store.countsByPeer();
    return peers.reduce((dups, p) => dups + Math.max(0, (counts.get(p) ?? 0) - 1), 0);
  } finally {
    await store.close();
  }
}
