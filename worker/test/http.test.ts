// The worker's HTTP face for process managers and Prometheus, and the per-campaign rate cap
// end to end: what operators watch and what they configure must both be real.
import { describe, expect, it } from 'vitest';
import { TelegramSimulator } from '../src/simulator/telegram-simulator.ts';
import { createLogger } from '../src/logger.ts';
import {
  addChannels,
  createCampaign,
  createWorld,
  recordGrants,
  startTestWorker,
  testConfig,
  testLogger,
  waitForState,
} from './fixtures.ts';

const metricValue = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('health and metrics over HTTP', () => {
  it('reports the account and counts outcomes; answers 404 elsewhere; 503 while stopping', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids } = await addChannels(world, 12, 'http');
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    sim.setTarget('@http_00003', { error: 'CHAT_WRITE_FORBIDDEN' });
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', {
      write: (l: string) => {
        lines.push(JSON.parse(l));
      },
    });
    const worker = await startTestWorker(testConfig(world, { httpPort: 0, httpHost: '127.0.0.1' }), { logger, simulator: sim });
    const base = `http://127.0.0.1:${worker.httpPort}`;
    const id = await createCampaign(world, { channelIds: ids });
    await waitForState(world, id, 'completed', 20_000);

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    const h = await health.json() as { status: string; accounts: Array<{ accountId: string; status: string }> };
    expect(h.status).toBe('ok');
    expect(h.accounts).toEqual([expect.objectContaining({ accountId: world.accountId, status: 'running', reason: null })]);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(metrics, 'tg_deliveries_total', 'outcome="sent"')).toBe(11);
    expect(metricValue(metrics, 'tg_deliveries_total', 'outcome="failed"')).toBe(1);
    expect(metricValue(metrics, 'tg_account_session_up', `account="${world.accountId}"`)).toBe(1);
    expect(metrics).toContain('tg_send_duration_seconds_bucket');
    expect(metrics).not.toMatch(/session=|api_hash|password/i);

    // the operator's log names the failure and the campaign's end, never a secret
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'delivery failed', errorCode: 'CHAT_WRITE_FORBIDDEN', campaignId: id }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'campaign completed', campaignId: id, sent: 11, failed: 1 }));
    expect(JSON.stringify(lines)).not.toContain(world.db.url);

    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const stopping = worker.stop();
    const during = await fetch(`${base}/health`).then((r) => r.status, () => 'closed');
    expect([503, 'closed']).toContain(during);
    await stopping;
  });
});

describe('per-campaign rate cap', () => {
  it('holds a capped campaign to its own pace while the account is fast', async () => {
    const world = await createWorld({ ratePerMinute: 60_000 });
    const { ids } = await addChannels(world, 10, 'cap');
    const sim = new TelegramSimulator({ accountPerSecond: 10_000 });
    const worker = await startTestWorker(testConfig(world), { logger: testLogger(), simulator: sim });
    const grants = recordGrants(worker.accounts()[0]!);
    const id = await createCampaign(world, { channelIds: ids, ratePerMinute: 600 }); // 10/s
    await waitForState(world, id, 'completed', 20_000);
    expect(sim.sends.filter((s) => !s.duplicate)).toHaveLength(10);
    // Each of its slots comes 100 ms after the one before, by the pacer's clock (the account
    // alone would allow one every millisecond).
    const times = grants.filter((g) => g.campaignId === id).map((g) => g.at);
    expect(times).toHaveLength(10);
    for (let i = 1; i < 10; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(100 - 1e-6);
  });
});
