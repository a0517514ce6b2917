// HTTP for process managers and Prometheus: GET /health (JSON, 503 when not serving) and
// GET /metrics. Alert conditions are computed here from the database and exposed both ways.
import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.ts';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'stopping';
  accounts: Array<{ accountId: string; status: string; reason: string | null; lastSentAt: string | null }>;
  alerts: Array<{ condition: string; subject: string; detail: string }>;
}

export function startHttp(opts: {
  host: string;
  port: number;
  metrics: Metrics;
  health(): Promise<HealthReport>;
  /** Refreshes DB-derived gauges (queue depth, alerts) right before a scrape. */
  beforeScrape(): Promise<void>;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    void (async () => {
      try {
        if (url === '/health' || url === '/healthz') {
          const h = await opts.health();
          res.writeHead(h.status === 'stopping' ? 503 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(h));
        } else if (url === '/metrics') {
          await opts.beforeScrape().catch(() => {});
          res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
          res.end(await opts.metrics.registry.metrics());
        } else {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'not_found', message: 'GET /health or /metrics' } }));
        }
      } catch (err) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'error', message: String((err as Error).message) }));
      }
    })();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve(server));
  });
}
