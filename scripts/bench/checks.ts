// The exactly-once audit shared by the fault suite and the benchmark: what the simulated
// Telegram received per target vs what the database says, and counters vs delivery rows.
import pg from 'pg';

export interface Audit {
  targets: number;
  /** Deliveries in state sent / failed / pending / cancelled / unconfirmed (outcome unknown). */
  sent: number;
  failed: number;
  pending: number;
  cancelled: number;
  unconfirmed: number;
  /** Targets with no message in the simulator (cancelled deliveries excluded). */
  lost: number;
  /** Targets with more than one message. */
  duplicated: number;
  /** Deliveries marked sent whose target got nothing, or with a message yet not marked sent. */
  stateMismatches: number;
  /** Campaign counters that differ from a count of their delivery rows. */
  counterMismatches: string[];
  /** A few examples, for the report. */
  examples: string[];
}

interface DeliveryRow {
  campaign_id: string;
  peer: string;
  state: string;
}

/**
 * `messagesPerPeer(peer)`: how many messages the simulator holds for that peer. Every campaign
 * audited must target distinct peers (the fixtures give each campaign its own channels).
 */
export async function audit(url: string, campaignIds: string[], messagesPerPeer: (peer: string) => number): Promise<Audit> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<DeliveryRow>(
      'select campaign_id, peer, state from public.deliveries where campaign_id = any($1::uuid[])',
      [campaignIds],
    );
    const a: Audit = {
      targets: rows.length,
      sent: 0,
      failed: 0,
      pending: 0,
      cancelled: 0,
      unconfirmed: 0,
      lost: 0,
      duplicated: 0,
      stateMismatches: 0,
      counterMismatches: [],
      examples: [],
    };
    const note = (s: string) => {
      if (a.examples.length < 10) a.examples.push(s);
    };
    for (const d of rows) {
      if (d.state === 'sent') a.sent++;
      else if (d.state === 'failed') a.failed++;
      else if (d.state === 'pending') a.pending++;
      else if (d.state === 'unconfirmed') a.unconfirmed++;
      else a.cancelled++;
      const n = messagesPerPeer(d.peer);
      if (n > 1) {
        a.duplicated++;
        note(`${d.peer}: ${n} messages`);
      }
      if (n === 0 && d.state !== 'cancelled') {
        a.lost++;
        note(`${d.peer}: no message (delivery ${d.state})`);
      }
      if ((d.state === 'sent') !== (n > 0)) {
        a.stateMismatches++;
        note(`${d.peer}: delivery ${d.state}, ${n} message(s)`);
      }
    }
    a.counterMismatches = await counterMismatches(c, campaignIds);
    return a;
  } finally {
    await c.end();
  }
}

/**
 * Campaigns whose counters differ from their delivery rows, described: every <state>_count
 * column the campaigns table has (so a new delivery state is checked too) and total_count.
 */
export async function counterMismatches(c: pg.Client, campaignIds: string[]): Promise<string[]> {
  const { rows } = await c.query<{ id: string; row: Record<string, unknown>; states: Record<string, number> }>(
    `select c.id, to_jsonb(c) as row,
            (select coalesce(jsonb_object_agg(s.state, s.n), '{}') from
               (select state, count(*)::int as n from public.deliveries d where d.campaign_id = c.id group by state) s) as states
       from public.campaigns c where c.id = any($1::uuid[])`,
    [campaignIds],
  );
  const out: string[] = [];
  for (const r of rows) {
    const total = Object.values(r.states).reduce((a, n) => a + n, 0);
    for (const [key, value] of Object.entries(r.row)) {
      const m = /^(\w+)_count$/.exec(key);
      if (!m) continue;
      const expected = m[1] === 'total' ? total : (r.states[m[1]!] ?? 0);
      if (value !== expected) out.push(`campaign ${r.id}: ${key} ${value} but ${expected} rows`);
    }
  }
  return out;
}

/** True when the audit shows exactly-once delivery and exact counters. */
export function clean(a: Audit): boolean {
  return a.lost === 0 && a.duplicated === 0 && a.stateMismatches === 0 && a.counterMismatches.length === 0 && a.pending === 0 &&
    a.unconfirmed === 0;
}
