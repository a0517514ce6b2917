// The watch page in headless Chromium: a stack in a temporary directory, a campaign created and
// started through the API, the page following it to completion. Screenshots (mid-run and done)
// are saved under .local/test-screenshots/ for a person to look at; the reach chart, drawn from
// rounds the stack's worker read on the stand-in while readers viewed the posts, to .local/reach-chart.png.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { REPO_ROOT } from './lib/migrate.ts';
import { apiFor } from './stack/api.ts';
import { createDemoCampaign } from './stack/campaign.ts';
import { type Stack, startStack } from './stack/index.ts';
import { type Browser, chromiumMissingMessage, launchChromium } from './web/chromium.ts';

const SHOTS = join(REPO_ROOT, '.local/test-screenshots');
const TARGETS = 60;
const RATE_PER_MINUTE = 1200; // 20/s: about 3 s, long enough to catch it mid-run

interface PageView {
  state: string;
  sent: string;
  failed: string;
  pending: string;
  total: string;
  barSent: string;
  error: string;
  /** 'realtime' or 'polling', and the source of the last update shown ('realtime' or 'api'). */
  transport: string;
  source: string;
  events: number;
  transportText: string;
}
const READ_PAGE = `(() => {
  const t = (id) => document.getElementById(id)?.textContent ?? '';
  const d = document.body.dataset;
  return { state: d.state ?? '', sent: t('sent'), failed: t('failed'), pending: t('pending'),
    total: t('total'), barSent: document.getElementById('bar-sent').style.width, error: t('error'),
    transport: d.transport ?? '', source: d.source ?? '', events: Number(d.events ?? 0), transportText: t('transport') };
})()`;

describe('watch page', () => {
  let dir: string;
  let stack: Stack | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    // Fail loudly, never skip: CI must install chromium (see .ci/run).
    const missing = chromiumMissingMessage();
    if (missing) throw new Error(missing);
    dir = await mkdtemp(join(tmpdir(), 'tg-web-'));
    // Both settle before we go on, so afterAll stops whatever did start.
    const [s, b] = await Promise.allSettled([
      startStack({ dir, ports: 'auto', workerEnv: { REACH_CALLS_PER_MINUTE: '600' } }),
      launchChromium({ width: 900, height: 1100 }),
    ]);
    if (s.status === 'fulfilled') stack = s.value;
    if (b.status === 'fulfilled') browser = b.value;
    if (s.status === 'rejected') throw s.reason;
    if (b.status === 'rejected') throw b.reason;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows a running campaign moving to completion', async () => {
    const { info } = stack!;
    const api = apiFor(info);
    const { campaign } = await createDemoCampaign(api, { targets: TARGETS, ratePerMinute: RATE_PER_MINUTE, name: 'Page test' });
    const page = browser!.page;
    // The page picks up the local demo token by itself (/local/config.json).
    await page.navigate(`${info.webUrl}?campaign=${campaign.id}`);
    await page.waitFor(`document.body.dataset.state === 'draft'`, 10_000);
    // Subscribed over the socket (supabase-js from the stack, the Realtime stand-in on the API URL).
    await page.waitFor(`document.body.dataset.transport === 'realtime'`, 10_000);

    await api.call('POST', `/campaigns/${campaign.id}/start`);
    const mid = await page.waitFor<PageView | null>(
      `(() => { const v = ${READ_PAGE}; return v.state === 'running' && Number(v.sent) > 0 ? v : null; })()`,
      20_000,
    );
    await mkdir(SHOTS, { recursive: true });
    await writeFile(join(SHOTS, 'watch-page-running.png'), await page.screenshot());
    expect(Number(mid!.sent)).toBeLessThan(TARGETS);
    // The running counts came over the WebSocket, not from polling the API.
    expect(mid).toMatchObject({ transport: 'realtime', source: 'realtime', transportText: 'Live over Realtime (WebSocket)' });

    await page.waitFor(`document.body.dataset.state === 'completed'`, 60_000);
    const done = await page.evaluate<PageView>(READ_PAGE);
    await new Promise((r) => setTimeout(r, 400)); // let the bar's CSS transition finish
    const png = await page.screenshot();
    await writeFile(join(SHOTS, 'watch-page-completed.png'), png);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(done).toMatchObject({
      state: 'completed',
      sent: String(TARGETS),
      failed: '0',
      pending: '0',
      total: String(TARGETS),
      barSent: '100%',
      error: '',
      transport: 'realtime',
      source: 'realtime',
    });
    // Coalesced to a few events per second: more than a couple, far fewer than one per send.
    expect(done.events).toBeGreaterThan(3);
    expect(done.events).toBeLessThan(TARGETS);
    // The page and the API agree.
    expect((await api.getCampaign(campaign.id)).counts.sent).toBe(TARGETS);
  }, 120_000);

  it('following the latest campaign switches to one created after the page was opened', async () => {
    const { info } = stack!;
    const api = apiFor(info);
    const page = browser!.page;
    await page.navigate(`${info.webUrl}?campaign=latest`);
    await page.waitFor(`document.body.dataset.state === 'completed'`, 10_000); // the previous test's
    const { campaign } = await createDemoCampaign(api, { targets: 5, ratePerMinute: 6000, name: 'Newer' });
    await page.waitFor(`document.getElementById('name').textContent === 'Newer'`, 10_000);
    await api.call('POST', `/campaigns/${campaign.id}/start`);
    await page.waitFor(
      `document.body.dataset.state === 'completed' && document.getElementById('sent').textContent === '5'`,
      30_000,
    );
    expect(await page.evaluate<string>(`document.getElementById('campaign-id').value`)).toBe(campaign.id);
  }, 60_000);

  it('draws views over time and a table per channel, each round arriving over Realtime', async () => {
    const { info } = stack!;
    const api = apiFor(info);
    const { campaign } = await createDemoCampaign(api, { targets: 5, ratePerMinute: 6000, name: 'Reach demo' });
    await api.call('POST', `/campaigns/${campaign.id}/start`);
    const page = browser!.page;
    await page.navigate(`${info.webUrl}?campaign=${campaign.id}`);
    await page.waitFor(`document.body.dataset.state === 'completed' && document.body.dataset.transport === 'realtime'`, 30_000);
    const views = [120, 340, 610, 800];
    for (const [i, v] of views.entries()) {
      await addViews(campaign.id, v - (views[i - 1] ?? 0), i);
      await api.call('POST', `/campaigns/${campaign.id}/reach/refresh`);
      await page.waitFor(`document.body.dataset.reachPoints === '${i + 1}'`, 30_000);
    }
    await page.evaluate(`document.getElementById('reach').scrollIntoView()`);
    const png = await page.screenshot();
    await mkdir(join(REPO_ROOT, '.local'), { recursive: true });
    await writeFile(join(REPO_ROOT, '.local/reach-chart.png'), png);
    const shown = await page.evaluate<{ points: number; views: string; source: string; rows: string[][] }>(`(() => ({
      points: document.querySelectorAll('#reach-chart circle').length,
      views: document.body.dataset.reachViews, source: document.body.dataset.reachSource,
      rows: [...document.querySelectorAll('#reach-rows tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
    }))()`);
    expect(shown).toMatchObject({ points: 4, views: String(5 * 800), source: 'realtime' });
    expect(shown.rows.map((r) => r[2])).toEqual(Array(5).fill('800'));
    const { history } = await api.call<{ history: { views: number }[] }>('GET', `/campaigns/${campaign.id}/reach`);
    expect(history.map((h) => h.views)).toEqual(views.map((v) => 5 * v));
  }, 120_000);

  it('while it polls (no Realtime) it reads reach again: a round shows without a reach event, reactions included', async () => {
    const { info } = stack!;
    const api = apiFor(info);
    const { campaign } = await createDemoCampaign(api, { targets: 3, ratePerMinute: 6000, name: 'Reach polled' });
    await api.call('POST', `/campaigns/${campaign.id}/start`);
    const page = browser!.page;
    await page.navigate(info.webUrl);
    await page.waitFor(`document.getElementById('token').value !== ''`, 10_000);
    // no supabase-js on the page: it cannot subscribe and polls
    await page.evaluate(`(() => {
      globalThis.supabase = undefined;
      document.getElementById('campaign-id').value = '${campaign.id}';
      document.getElementById('setup').requestSubmit();
    })()`);
    await page.waitFor(`document.body.dataset.state === 'completed' && document.body.dataset.transport === 'polling'`, 30_000);
    expect(await page.evaluate<string>(`document.body.dataset.reachPoints`)).toBe('0');
    await addViews(campaign.id, 50, 1, 7);
    await api.call('POST', `/campaigns/${campaign.id}/reach/refresh`);
    await page.waitFor(`document.body.dataset.reachPoints === '1'`, 30_000);
    const shown = await page.evaluate<{ reactions: string; source: string; transport: string; rows: string[][] }>(`(() => ({
      reactions: document.body.dataset.reachReactions, source: document.body.dataset.reachSource,
      transport: document.body.dataset.transport,
      rows: [...document.querySelectorAll('#reach-rows tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
    }))()`);
    expect(shown).toMatchObject({ reactions: String(3 * 7), source: 'api', transport: 'polling' });
    expect(shown.rows.map((r) => r.slice(2, 5))).toEqual(Array(3).fill(['50', '1', '7']));
  }, 120_000);

  /**
   * Readers elsewhere view each of the campaign's posts `n` more times, forward it `forwards` times
   * and react `reactions` times (the stand-in's hooks).
   */
  async function addViews(campaignId: string, n: number, forwards: number, reactions = 0) {
    const model = stack!.telegram!.standIn.model;
    const phones = JSON.parse(await readFile(join(stack!.dir, 'telegram/accounts.json'), 'utf8'));
    const db = new pg.Client({ connectionString: stack!.info.dbUrl });
    await db.connect();
    try {
      const { rows } = await db.query(
        `select c.account_id, d.telegram_message_id as mid, ap.telegram_id as tid, ap.access_hash as hash
         from public.deliveries d join public.campaigns c on c.id = d.campaign_id
         join private.account_peers ap on ap.account_id = c.account_id and ap.channel_id = d.channel_id
         where d.campaign_id = $1 and d.state = 'sent'`,
        [campaignId],
      );
      for (const r of rows) {
        const viewer = model.accounts.withPhone(phones[r.account_id].phone)!;
        const ch = model.channel(viewer, BigInt(String(r.tid).slice(4)), BigInt(r.hash));
        model.afterSend.addViews(ch, Number(r.mid), n, forwards);
        if (reactions) model.afterSend.addReactions(ch, Number(r.mid), '❤', reactions);
      }
    } finally {
      await db.end();
    }
  }
});
