// Webhooks end to end: endpoints registered over HTTP (the real functions), events written by the
// database where campaigns and accounts change, the real worker and pg-boss delivering them to a
// loopback receiver that fails, times out and succeeds. Retries run 1 to 2 s apart here (the
// queue's policy, set by the fixture); the documented verification snippets check real calls.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { REPO_ROOT } from '../../scripts/lib/migrate.ts';
import { asServiceRole } from '../../scripts/test/db.ts';
import { SIGNATURE_TOLERANCE_SECONDS } from '../../contracts/webhooks.ts';
import { addChannels, createCampaign, startTestWorker, testConfig, testLogger, waitFor, waitForState } from './fixtures.ts';
import {
  createWebhookWorld,
  percentile,
  startReceiver,
  verifyWithDenoSnippet,
  verifyWithNodeSnippet,
  type WebhookWorld,
} from './webhook-fixtures.ts';

const worker = (w: WebhookWorld, o: Parameters<typeof testConfig>[1] = {}) =>
  startTestWorker(testConfig(w, { webhookTimeoutMs: 1_000, webhookAllowPrivateTargets: true, ...o }), { logger: testLogger() });

async function register(w: WebhookWorld, url: string, events: string[]): Promise<{ id: string; secret: string }> {
  const r = await w.user.call('POST', '/webhooks', { url, events });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** The endpoint's log through the API, oldest attempt first. */
async function log(w: WebhookWorld, endpointId: string): Promise<any[]> {
  const r = await w.user.call('GET', `/webhooks/${endpointId}/deliveries?limit=100`);
  expect(r.status).toBe(200);
  return r.body.items.reverse();
}

/** The pg-boss jobs of the webhook queue by state: none left to run once all are completed or failed. */
async function jobStates(w: WebhookWorld): Promise<Record<string, number>> {
  const { rows } = await w.sql.query(`select state::text, count(*)::int as n from pgboss.job where name = 'webhooks' group by 1`);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

describe('webhooks', () => {
  it('a completed campaign: 500, a redirect (not followed), a timeout, then 200; the event arrives once after its 2xx, every attempt logged', async () => {
    const w = await createWebhookWorld();
    const rx = await startReceiver(['fail', 'redirect', 'hang']);
    const hook = await register(w, rx.url, ['campaign.completed']);
    const other = await startReceiver();
    await register(w, other.url, ['account.revoked']); // not subscribed to completions
    await worker(w);
    const { ids } = await addChannels(w, 3);
    const campaignId = await createCampaign(w, { channelIds: ids });
    await waitForState(w, campaignId, 'completed');

    const attempts = await waitFor('a delivered attempt', async () => {
      const l = await log(w, hook.id);
      return l.some((a) => a.statusCode === 200) && l;
    });
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 307, 'HTTP 307'],
      [3, null, 'timeout after 1000 ms'],
      [4, 200, null],
    ]);
    expect(attempts.every((a) => a.delivered && a.eventType === 'campaign.completed' && a.finishedAt)).toBe(true);
    expect(new Set(attempts.map((a) => a.eventId)).size).toBe(1);
    // Its job is completed: nothing is left that could send it again.
    await waitFor('no webhook job left to run', async () => {
      const s = await jobStates(w);
      return !s.created && !s.retry && !s.active && s;
    });
    expect(rx.arrivals.map((a) => a.answer)).toEqual(['fail', 'redirect', 'hang', 'ok']); // nothing at /elsewhere
    const bodies = rx.arrivals.map((a) => JSON.parse(a.body));
    expect(new Set(bodies.map((b) => b.id))).toEqual(new Set([attempts[0].eventId]));
    expect(rx.arrivals.every((a) => a.headers['webhook-id'] === bodies[0].id)).toBe(true);
    expect(bodies[3]).toMatchObject({
      type: 'campaign.completed',
      data: { campaign: { id: campaignId, state: 'completed', sent: 3 } },
    });
    expect(other.arrivals).toEqual([]);

    const gaps = rx.arrivals.slice(1).map((a, i) => (a.at - rx.arrivals[i]!.at) / 1000);
    const { rows: [ev] } = await w.sql.query(`select created_at from private.webhook_events where id = $1`, [bodies[0].id]);
    console.log(
      `[webhooks] retries observed (retryDelay 1 s, max 2 s, timeout 1 s): first attempt ${
        rx.arrivals[0]!.at - new Date(ev.created_at).getTime()
      } ms after the event, then gaps ${gaps.map((g) => g.toFixed(2)).join(', ')} s`,
    );
    // pg-boss backoff with retryDelay 1 and retryDelayMax 2 waits 1 to 2 s; a timed-out attempt adds its 1 s.
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(0.9);
  });

  it('the documented Node and Deno checks accept a real call, refuse a forged signature, a changed body and an old timestamp', async () => {
    const w = await createWebhookWorld();
    const rx = await startReceiver();
    const hook = await register(w, rx.url, ['account.limited']);
    expect(hook.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    await worker(w);
    await asServiceRole(
      w.sql,
      (c) => c.query(`select public.worker_account_status($1, 'limited', 'PEER_FLOOD')`, [w.accountId]),
    );
    const call = await waitFor('the account.limited call', async () => rx.arrivals[0]);
    expect(JSON.parse(call.body)).toMatchObject({
      type: 'account.limited',
      data: { account: { id: w.accountId, status: 'limited' } },
    });

    const header = String(call.headers['webhook-signature']);
    const t = Number(/t=(\d+)/.exec(header)![1]);
    const forged = header.replace(/v1=([0-9a-f])/, (_, c) => `v1=${c === '0' ? '1' : '0'}`);
    const cases = [
      { secret: hook.secret, header, body: call.body },
      { secret: hook.secret, header: forged, body: call.body },
      { secret: hook.secret, header, body: call.body.replace('"limited"', '"active"') },
      { secret: 'whsec_not_the_secret', header, body: call.body },
      { secret: hook.secret, header: undefined, body: call.body },
      // the same call replayed later than the tolerance, and one dated from the future
      { secret: hook.secret, header, body: call.body, now: t + SIGNATURE_TOLERANCE_SECONDS + 1 },
      { secret: hook.secret, header, body: call.body, now: t - SIGNATURE_TOLERANCE_SECONDS - 1 },
    ];
    const expected = [true, false, false, false, false, false, false];
    expect(await verifyWithNodeSnippet(cases)).toEqual(expected);
    expect(await verifyWithDenoSnippet(cases)).toEqual(expected);
  });

  it('with private targets off (the default) the worker refuses a name resolving to loopback, before connecting', async () => {
    const w = await createWebhookWorld(); // registration allowed it (the database switch is on)
    const rx = await startReceiver();
    const hook = await register(w, rx.url.replace('127.0.0.1', 'localhost'), ['account.limited']);
    await worker(w, { webhookAllowPrivateTargets: false });
    const test = await w.user.call('POST', `/webhooks/${hook.id}/test`);
    expect(test.status).toBe(202);
    const [first] = await waitFor('a refused attempt', async () => {
      const l = await log(w, hook.id);
      return l.length > 0 && l[0].finishedAt && l;
    });
    expect(first).toMatchObject({ eventId: test.body.eventId, eventType: 'webhook.test', statusCode: null, delivered: false });
    expect(first.error).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1), not a public address$/);
    expect(rx.arrivals).toEqual([]);
  });

  it('latency from the event to the receiver (30 test events, one at a time)', async () => {
    const w = await createWebhookWorld();
    const rx = await startReceiver();
    const hook = await register(w, rx.url, ['campaign.completed']);
    await worker(w);
    const latencies: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { body } = await w.user.call('POST', `/webhooks/${hook.id}/test`);
      const arrival = await waitFor(
        'the test call',
        async () => rx.arrivals.find((a) => JSON.parse(a.body).id === body.eventId),
        10_000,
        5,
      );
      const { rows: [ev] } = await w.sql.query(`select created_at from private.webhook_events where id = $1`, [body.eventId]);
      latencies.push(arrival.at - new Date(ev.created_at).getTime());
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `[webhooks] event to receiver: p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms, max ${
        latencies.at(-1)
      } ms (n=30)`,
    );
    expect(rx.arrivals).toHaveLength(30);
  });

  it("the queue's own schedule, observed: 30 retries over 24 to 25 hours, then the delivery fails (each wait skipped, not slept)", async () => {
    const w = await createWebhookWorld({ productionRetries: true });
    const rx = await startReceiver(Array(40).fill('fail'));
    const hook = await register(w, rx.url, ['account.limited']);
    await worker(w);
    await w.user.call('POST', `/webhooks/${hook.id}/test`);
    const waits: number[] = [];
    for (let n = 1; n <= 31; n++) {
      // After attempt n fails, pg-boss has set when the job runs again: that wait is observed,
      // then the job is made due now and the worker woken, as if the wait had passed.
      const job = await waitFor(
        `attempt ${n} settled`,
        async () => {
          const { rows: [j] } = await w.sql.query(
            `select j.id, j.state::text, extract(epoch from j.start_after - a.finished_at) as wait
           from pgboss.job j join public.webhook_attempts a on a.delivery_id = j.id and a.attempt = $1
           where j.name = 'webhooks' and a.finished_at is not null and j.retry_count = $1 - 1`,
            [n],
          );
          return j && (j.state === 'retry' || j.state === 'failed') && j;
        },
        20_000,
        20,
      );
      if (job.state === 'failed') break;
      waits.push(Number(job.wait));
      await w.sql.query(`update pgboss.job set start_after = now() where name = 'webhooks' and id = $1`, [job.id]);
      await w.sql.query(`select pg_notify(private.pgboss_notify_channel(), 'webhooks')`);
    }
    const total = waits.reduce((a, b) => a + b, 0);
    console.log(
      `[webhooks] production schedule observed: ${
        waits.map((s) => (s < 3600 ? `${Math.round(s)}s` : `${(s / 3600).toFixed(2)}h`)).join(', ')
      }; ` +
        `last attempt ${(total / 3600).toFixed(2)} h after the first`,
    );
    expect(waits).toHaveLength(30);
    // retry n+1 waits 30 s × 2^n × [1, 2), at most an hour (a few ms of recording aside)
    waits.forEach((s, n) => {
      expect(s).toBeGreaterThanOrEqual(Math.min(3600, 30 * 2 ** n) - 1);
      expect(s).toBeLessThanOrEqual(Math.min(3600, 30 * 2 ** (n + 1)) + 1);
    });
    expect(total / 3600).toBeGreaterThan(24);
    expect(total / 3600).toBeLessThan(25.2);
    const attempts = await log(w, hook.id);
    expect(attempts).toHaveLength(31);
    expect(attempts.every((a) => a.statusCode === 500 && !a.delivered)).toBe(true);
    const { rows: [d] } = await w.sql.query(`select state from public.webhook_deliveries where endpoint_id = $1`, [hook.id]);
    expect(d.state).toBe('failed');
    expect(rx.arrivals).toHaveLength(31);
  });

  it('a worker SIGKILLed after the receiver got the call, before recording it: sent again with the same event id, then never', async () => {
    const w = await createWebhookWorld({ expireSeconds: 3 });
    const rx = await startReceiver(['hold']);
    const hook = await register(w, rx.url, ['account.revoked']);
    const child = spawnWorker(w);
    await asServiceRole(
      w.sql,
      (c) => c.query(`select public.worker_account_status($1, 'revoked', 'AUTH_KEY_UNREGISTERED')`, [w.accountId]),
    );
    await waitFor('the held call', async () => rx.arrivals.length === 1);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    rx.release(); // the 200 goes nowhere: the worker that asked is gone
    await worker(w);
    const attempts = await waitFor('a delivered attempt', async () => {
      const l = await log(w, hook.id);
      return l.some((a) => a.statusCode === 200) && l;
    });
    await waitFor('no webhook job left to run', async () => {
      const s = await jobStates(w);
      return !s.created && !s.retry && !s.active && s;
    });
    // At least once: the receiver saw the event twice, with one id to deduplicate by.
    expect(rx.arrivals.map((a) => JSON.parse(a.body).id)).toEqual([attempts[0].eventId, attempts[0].eventId]);
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.finishedAt === null])).toEqual([[1, null, true], [2, 200, false]]);
  });
});

/** The worker as its own process (npm run worker), to be killed. */
function spawnWorker(w: WebhookWorld): ChildProcess {
  const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), ['worker/src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: w.db.url,
      TELEGRAM_MODE: 'simulator',
      TELEGRAM_ACCOUNTS: JSON.stringify([{ accountId: w.accountId }]),
      WORKER_HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      POLLING_SECONDS: '1',
      SUPERVISE_SECONDS: '2',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}
