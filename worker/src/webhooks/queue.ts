// Works the webhook queue: one job per (event, endpoint). Each job claims its delivery (nothing
// to do once a 2xx is recorded), signs and sends one attempt, and records it; a failed attempt
// throws, and pg-boss retries the job with the queue's backoff (see the migration).
import type pg from 'pg';
import type { JobWithMetadata, PgBoss } from 'pg-boss';
import { SIGNATURE_HEADER, WEBHOOK_ID_HEADER, WEBHOOK_QUEUE, WebhookJob } from '../../../contracts/webhooks.ts';
import type { WorkerConfig } from '../config.ts';
import * as db from '../db.ts';
import type { Logger } from '../logger.ts';
import { type AttemptResult, sendAttempt } from './send.ts';
import { signatureHeader } from './signature.ts';

type Claim =
  | { action: 'done' | 'busy' }
  | { action: 'send'; attempt: number; url: string; secret: string; eventId: string; body: string };

export interface WebhookWorker {
  /** A pg-boss NOTIFY: true when it was this queue's (new jobs: poll now). */
  notified(queue: string): boolean;
  stop(): void;
}

export interface WebhookDeps {
  boss: PgBoss;
  pool: pg.Pool;
  config: WorkerConfig;
  log: Logger;
}

async function claim(pool: pg.Pool, deliveryId: string, leaseSeconds: number): Promise<Claim> {
  const { rows } = await pool.query('select public.worker_webhook_claim($1, $2) as c', [deliveryId, leaseSeconds]);
  return rows[0].c as Claim;
}

async function record(pool: pg.Pool, deliveryId: string, attempt: number, r: AttemptResult, final: boolean): Promise<void> {
  await pool.query('select public.worker_webhook_record($1, $2, $3, $4, $5, $6, $7)', [
    deliveryId,
    attempt,
    r.status,
    r.error,
    r.responsePrefix,
    r.durationMs,
    final,
  ]);
}

async function deliver(d: WebhookDeps, job: JobWithMetadata<unknown>): Promise<void> {
  const { deliveryId } = WebhookJob.parse(job.data);
  const timeoutMs = d.config.webhookTimeoutMs;
  const c = await claim(d.pool, deliveryId, Math.ceil(timeoutMs / 1000) + 5);
  if (c.action === 'busy') throw new Error('another attempt of this delivery is in progress');
  if (c.action !== 'send') return; // delivered already, or the endpoint is gone or disabled
  const result = await sendAttempt({
    url: c.url,
    body: c.body,
    timeoutMs,
    allowPrivate: d.config.webhookAllowPrivateTargets,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'tg-campaigns-webhooks/1',
      [WEBHOOK_ID_HEADER]: c.eventId,
      [SIGNATURE_HEADER]: signatureHeader(c.secret, c.body, Math.floor(Date.now() / 1000)),
    },
  });
  const final = job.retryCount >= job.retryLimit;
  await record(d.pool, deliveryId, c.attempt, result, final);
  if (result.error) {
    d.log.info({ deliveryId, attempt: c.attempt, error: result.error, final }, 'webhook attempt failed');
    throw new Error(result.error);
  }
}

export async function workWebhooks(d: WebhookDeps): Promise<WebhookWorker> {
  const workId = await d.boss.work(WEBHOOK_QUEUE, {
    includeMetadata: true,
    localConcurrency: d.config.webhookConcurrency,
    pollingIntervalSeconds: d.config.pollingSeconds,
  }, async ([job]) => await deliver(d, job!));
  // A job whose worker died comes back after its expiry: look for such jobs as often as the
  // fetch loop does for deliveries (pg-boss's own pass over every queue is rare). The same pass
  // prunes old events (the database lets one pass an hour across the workers do it).
  const timer = setInterval(async () => {
    try {
      if ((await db.orphanedQueues(d.pool, [WEBHOOK_QUEUE])).length) await d.boss.supervise(WEBHOOK_QUEUE);
      const pruned = await db.pruneWebhookEvents(d.pool);
      if (pruned) d.log.info({ events: pruned }, 'old webhook events pruned');
    } catch (err) {
      d.log.warn({ err }, 'webhook queue supervision failed');
    }
  }, d.config.superviseSeconds * 1000);
  timer.unref();
  return {
    notified: (queue) => queue === WEBHOOK_QUEUE && (d.boss.notifyWorker(workId), true),
    stop: () => clearInterval(timer),
  };
}
