// Fault scenario: a photo campaign whose worker is SIGKILLed mid-run and restarted. Every
// restarted process fetches the file again and either reuses the reference stored with the
// outcomes (worker_media_refs) or, its simulator never having seen it, is told
// FILE_REFERENCE_EXPIRED and uploads again without spending an attempt. The audit is the
// suite's (one message per target, counters equal to rows); `after` adds that every posted
// message carries the photo. The file comes from a small HTTP server answering the Storage API's
// object route, which is all the worker uses of Storage.
// It runs on the worker's in-process simulator (onSimulator says why).
import { createServer, type Server } from 'node:http';
import { PostgresMessageStore } from '../../worker/src/simulator/store.ts';
import { withClient } from '../lib/database.ts';
import { demoPicture } from '../stack/demo-media.ts';
import type { ScenarioContext, ScenarioSize, ScenarioSpec } from './harness.ts';

const KEY = 'fault-suite-service-role-key';

/** Serves `bytes` at every campaign-media object path for the service key; counts the fetches. */
async function fileServer(bytes: Buffer): Promise<{ url: string; fetches: () => number; close(): Promise<void> }> {
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    const ok = req.headers.authorization === `Bearer ${KEY}` && req.url?.startsWith('/storage/v1/object/campaign-media/');
    if (ok) fetches++;
    res.writeHead(ok ? 200 : 404, { 'content-type': 'image/png', 'content-length': ok ? bytes.length : 0 });
    res.end(ok ? bytes : undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, fetches: () => fetches, close: () => new Promise((r) => server.close(() => r())) };
}

/** The seeded text campaigns become photo campaigns (drafts: the RPC's checks are tested elsewhere). */
async function makePhotoCampaigns(ctx: ScenarioContext, size: number): Promise<void> {
  await withClient(ctx.db.url, (c) =>
    c.query(
      `update public.campaigns set media_path = owner_id || '/fault.png', media_kind = 'photo', media_mime = 'image/png', media_size = $2
     where id = any ($1::uuid[])`,
      [ctx.campaignIds, size],
    ));
}

export function mediaKillScenario(size: ScenarioSize & { kills: number }, logDir: string): ScenarioSpec {
  const picture = demoPicture(64);
  let files: Awaited<ReturnType<typeof fileServer>> | undefined;
  return {
    name: 'media campaign, worker SIGKILL',
    size,
    logDir,
    onSimulator: 'the stand-in does not model uploads (upload.saveFilePart, messages.uploadMedia) nor file references yet',
    async run(ctx) {
      files = await fileServer(picture);
      await makePhotoCampaigns(ctx, picture.length);
      const env = { SUPABASE_URL: files.url, SUPABASE_SERVICE_ROLE_KEY: KEY };
      let w = await ctx.worker('media-0', { env });
      await ctx.start();
      // Kills at even steps of the campaign: the first lands right after the upload.
      for (let i = 1; i <= size.kills; i++) {
        await ctx.waitSent(Math.floor((size.targets * i) / (size.kills + 1)), 20_000);
        await w.kill();
        ctx.notes.push(`kill ${i} at ${await ctx.sent()} sent`);
        w = await ctx.worker(`media-${i}`, { env });
      }
    },
    async after(ctx) {
      const store = new PostgresMessageStore(ctx.telegramUrl!);
      try {
        const plain = (await store.messages()).filter((m) => m.media !== 'photo');
        if (plain.length) ctx.violations.push(`${plain.length} messages posted without the photo`);
      } finally {
        await store.close();
      }
      ctx.notes.push(`file fetched ${files?.fetches() ?? 0} times by ${size.kills + 1} worker processes`);
      await files?.close();
    },
  };
}
