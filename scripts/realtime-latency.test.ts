// The subscriber-latency measurement of `npm run bench` (scripts/bench/realtime-latency.ts), run
// short: a send's commit → the progress event in a supabase-js client, through the Realtime stand-in.
import { describe, expect, it } from 'vitest';
import { measureRealtimeLatency } from './bench/realtime-latency.ts';
import { createTestDatabase } from './test/db.ts';

describe('Realtime subscriber latency', () => {
  it('measures commit → event at the client for every send', async () => {
    const db = await createTestDatabase({ prefix: 'tg_rtlat' });
    try {
      const r = await measureRealtimeLatency({ dbUrl: db.url, adminUrl: db.adminUrl, samples: 20 });
      console.log(`[realtime-latency] p50 ${r.p50Ms.toFixed(1)} ms, p95 ${r.p95Ms.toFixed(1)} ms (${r.samples.length} sends)`);
      expect(r.samples).toHaveLength(20);
      expect(r.samples.every((ms) => ms >= 0)).toBe(true);
      expect(r.p50Ms).toBeLessThanOrEqual(r.p95Ms);
      expect(r.p95Ms).toBeLessThan(1000); // the product's progress target
    } finally {
      await db.drop();
    }
  }, 60_000);
});
