// Prometheus metrics of the worker (prom-client). One registry per worker instance, so tests
// can run several workers in one process.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const labelNames = ['account'] as const;
  return {
    registry,
    outcomes: new Counter({
      name: 'tg_deliveries_total',
      help: 'Delivery outcomes recorded',
      labelNames: ['account', 'outcome'] as const,
      registers: [registry],
    }),
    floodWaits: new Counter({
      name: 'tg_flood_waits_total',
      help: 'FLOOD_WAIT answers from Telegram',
      labelNames,
      registers: [registry],
    }),
    floodWaitSeconds: new Gauge({
      name: 'tg_flood_wait_remaining_seconds',
      help: 'Seconds until the account may send again',
      labelNames,
      registers: [registry],
    }),
    sendLatency: new Histogram({
      name: 'tg_send_duration_seconds',
      help: 'messages.SendMessage round trip',
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    recordDuration: new Histogram({
      name: 'tg_record_duration_seconds',
      help: 'One commit of outcomes (every account of the process)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    recordSize: new Histogram({
      name: 'tg_record_outcomes',
      help: 'Outcomes per commit',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 5000],
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: 'tg_queue_jobs',
      help: 'pg-boss jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
    }),
    accountUp: new Gauge({
      name: 'tg_account_session_up',
      help: '1 while the account session is held and authorized',
      labelNames,
      registers: [registry],
    }),
    alert: new Gauge({
      name: 'tg_alert',
      help: 'Alert conditions (1 = firing)',
      labelNames: ['condition', 'subject'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
