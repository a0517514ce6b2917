// The exactly-once audit shared by the fault suite and the benchmark: what the simulated
// Telegram received per target vs what the database says, and counters vs delivery rows.
import pg from 'pg';

export interface Audit {
  targets: number;
  /** Deliveries in state sent / failed / pending / cancelled. */
  sent: number;
  failed: number;
  pending: number;
  cancelled: number;
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

interface DeliveryRow { campaign_id: string; peer: string; state: string }

/**
 * `messagesPerPeer(peer)`: how many messages the simulator holds for that peer. Every campaign
 * audited must target distinct peers (the fixtures give each campaign its own channels).
 */
export async function audit(url: string, campaignIds: string[], messagesPerPeer: (peer: string) => number): Promise<Audit> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<DeliveryRow>(
      'select campaign_id, peer, state from public.deliveries where campaign_id = any($1::uuid[])', [campaignIds]);
    const a: Audit = { targets: rows.length, sent: 0, failed: 0, pending: 0, cancelled: 0, lost: 0, duplicated: 0, stateMismatches: 0, counterMismatches: [], examples: [] };
    const note = (s: string) => { if (a.examples.length < 10) a.examples.push(s); };
    for (const d of rows) {
      if (d.state === 'sent') a.sent++;
      else if (d.state === 'failed') a.failed++;
      else if (d.state === 'pending') a.pending++;
      else a.cancelled++;
      const n = messagesPerPeer(d.peer);
      if (n > 1) { a.duplicated++; note(`${d.peer}: ${n} messages`); }
      if (n === 0 && d.state !== 'cancelled') { a.lost++; note(`${d.peer}: no message (delivery ${d.state})`); }
      if ((d.state === 'sent') !== (n > 0)) { a.stateMismatches++; note(`${d.peer}: delivery ${d.state}, ${n} message(s)`); }
    }
    a.counterMismatches = await counterMismatches(c, campaignIds);
    return a;
  } finally {
    await c.end();
  }
}

/** Campaigns whose counters differ from their delivery rows, described. */
export async function counterMismatches(c: pg.Client, campaignIds: string[]): Promise<string[]> {
  const { rows } = await c.query(
    `select c.id, c.total_count, c.pending_count, c.sent_count, c.failed_count, c.cancelled_count,
            count(d.id)::int as total,
            count(d.id) filter (where d.state = 'pending')::int as pending,
            count(d.id) filter (where d.state = 'sent')::int as sent,
            count(d.id) filter (where d.state = 'failed')::int as failed,
            count(d.id) filter (where d.state = 'cancelled')::int as cancelled
       from public.campaigns c left join public.deliveries d on d.campaign_id = c.id
      where c.id = any($1::uuid[]) group by c.id`, [campaignIds]);
  const out: string[] = [];
  for (const r of rows) {
    for (const k of ['total', 'pending', 'sent', 'failed', 'cancelled']) {
      if (r[`${k}_count`] !== r[k]) out.push(`campaign ${r.id}: ${k}_count ${r[`${k}_count`]} but ${r[k]} rows`);
    }
  }
  return out;
}

/** True when the audit shows exactly-once delivery and exact counters. */
export function clean(a: Audit): boolean {
  return a.lost === 0 && a.duplicated === 0 && a.stateMismatches === 0 && a.counterMismatches.length === 0 && a.pending === 0;
}
