// Webhook history is kept 30 days: the worker's webhook pass deletes older events with their
// deliveries and attempts once none is still in progress, one pass an hour across the workers,
// a full batch letting the next pass go on at once.
import { describe, expect, it } from 'vitest';
import { startTestWorker, testConfig, testLogger, waitFor } from './fixtures.ts';
import { createWebhookWorld, startReceiver, type WebhookWorld } from './webhook-fixtures.ts';

/** An account.limited event for the user's endpoint, its delivery put in `state`, `daysAgo` old. */
async function event(w: WebhookWorld, state: string, daysAgo: number): Promise<string> {
  const { rows } = await w.sql.query(`select private.emit_webhook_event($1, 'account.limited', '{}'::jsonb) as id`, [w.userId]);
  const id = rows[0].id as string;
  await w.sql.query(`update private.webhook_events set created_at = now() - make_interval(days => $2) where id = $1`, [
    id,
    daysAgo,
  ]);
  await w.sql.query(
    `update public.webhook_deliveries set state = $2, lease_until = case when $2 = 'sending' then now() + interval '1 day' end,
       delivered_at = case when $2 = 'delivered' then now() end
     where event_id = $1`,
    [id, state],
  );
  return id;
}

const kept = async (w: WebhookWorld, ids: string[]) =>
  (await w.sql.query('select id::text from private.webhook_events where id = any($1) order by created_at', [ids])).rows.map((r) =>
    r.id
  );
const prune = async (w: WebhookWorld, limit: number) =>
  (await w.sql.query('select public.worker_prune_webhook_events($1) as n', [limit])).rows[0].n as number;

describe('webhook history retention', () => {
  it('the worker deletes events older than 30 days with their deliveries and attempts, never one in progress', async () => {
    const w = await createWebhookWorld();
    const rx = await startReceiver();
    const r = await w.user.call('POST', '/webhooks', { url: rx.url, events: ['account.limited'] });
    expect(r.status).toBe(201);
    const delivered = await event(w, 'delivered', 31);
    const failed = await event(w, 'failed', 40);
    const sending = await event(w, 'sending', 35);
    const recent = await event(w, 'delivered', 29);
    await w.sql.query(
      `insert into public.webhook_attempts (delivery_id, endpoint_id, owner_id, event_id, event_type, attempt, status_code, started_at)
       select id, endpoint_id, owner_id, event_id, event_type, 1, 200, now() from public.webhook_deliveries where event_id = any($1)`,
      [[delivered, recent]],
    );

    const worker = await startTestWorker(testConfig(w, { superviseSeconds: 1 }), { logger: testLogger() });
    const all = [delivered, failed, sending, recent];
    await waitFor('the old finished events pruned', async () => (await kept(w, all)).length === 2, 15_000);
    expect(await kept(w, all)).toEqual([sending, recent]);
    const left = await w.sql.query(
      `select (select count(*)::int from public.webhook_deliveries where event_id = any($1)) as deliveries,
         (select count(*)::int from public.webhook_attempts where event_id = any($1)) as attempts`,
      [[delivered, failed]],
    );
    expect(left.rows[0]).toEqual({ deliveries: 0, attempts: 0 });
    expect((await w.sql.query('select count(*)::int n from public.webhook_attempts where event_id = $1', [recent])).rows[0].n)
      .toBe(1);
    await worker.stop();

    // Within the hour another call does nothing; a full batch opens the gate for the next one.
    const more = [await event(w, 'delivered', 31), await event(w, 'failed', 32), await event(w, 'delivered', 33)];
    expect(await prune(w, 2)).toBe(0);
    await w.sql.query('update private.webhook_settings set pruned_at = null');
    expect(await prune(w, 2)).toBe(2);
    expect(await prune(w, 2)).toBe(1);
    expect(await prune(w, 2)).toBe(0);
    expect(await kept(w, more)).toEqual([]);
  });
});
