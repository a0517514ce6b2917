// Fault scenario: a photo campaign whose worker is SIGKILLed mid-run and restarted, on the stand-in
// with the worker's real GramJS client. The worker promises one upload per account and campaign
// (upload.saveFilePart + messages.uploadMedia): the reference rides on the campaign's outcomes
// into the database (worker_media_refs) and a restarted process sends with it instead of
// uploading again; a reference Telegram refuses (FILE_REFERENCE_EXPIRED, answered here to the
// first send after one restart) is replaced by one new upload, without spending an attempt
// (unless the worker that got the refusal is killed first). The audit is the suite's (one post per target in the channels' history, counters equal
// to rows); `after` adds that every post carries the photo and counts the uploads Telegram saw.
// The file comes from a small HTTP server answering the Storage API's object route, which is all
// the worker uses of Storage.
import { createServer, type Server } from 'node:http';
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

/** Calls of `method` that reach the model from now on. */
function countCalls(ctx: ScenarioContext, method: string): () => number {
  let n = 0;
  ctx.telegram.model.faults.add({ method, onMatch: () => n++ });
  return () => n;
}

export function mediaKillScenario(size: ScenarioSize & { kills: number }, logDir: string): ScenarioSpec {
  const picture = demoPicture(64);
  let files: Awaited<ReturnType<typeof fileServer>> | undefined;
  let uploads = () => 0;
  return {
    name: 'media campaign, worker SIGKILL',
    size,
    logDir,
    setUp(ctx) {
      uploads = countCalls(ctx, 'messages.uploadMedia');
    },
    async run(ctx) {
      files = await fileServer(picture);
      await makePhotoCampaigns(ctx, picture.length);
      const env = { SUPABASE_URL: files.url, SUPABASE_SERVICE_ROLE_KEY: KEY };
      let w = await ctx.worker('media-0', { env });
      await ctx.start();
      // Kills at even steps of the campaign.
      for (let i = 1; i <= size.kills; i++) {
        await ctx.waitSent(Math.floor((size.targets * i) / (size.kills + 1)), 20_000);
        await w.kill();
        ctx.notes.push(`kill ${i} at ${await ctx.sent()} sent`);
        if (i === 1) {
          const expired = { code: 400, type: 'FILE_REFERENCE_EXPIRED' };
          ctx.telegram.model.faults.add({ method: 'messages.sendMedia', error: expired, times: 1 });
        }
        w = await ctx.worker(`media-${i}`, { env });
      }
    },
    async after(ctx) {
      const posts = await ctx.posts();
      const plain = posts.filter((p) => p.media !== 'MessageMediaPhoto');
      if (plain.length) ctx.violations.push(`${plain.length} of ${posts.length} posts without the photo`);
      // One upload per campaign, and one more for the reference refused after the first restart,
      // unless the worker that got the refusal was killed before uploading again (the refusal is
      // injected once, so the next worker's send with the old reference goes through).
      const least = ctx.campaignIds.length;
      ctx.notes.push(
        `${uploads()} uploads (messages.uploadMedia) by ${size.kills + 1} worker processes, file fetched ${
          files?.fetches() ?? 0
        } times`,
      );
      if (uploads() < least || uploads() > least + 1) {
        ctx.violations.push(`${uploads()} uploads where the worker promises ${least} or ${least + 1}`);
      }
      await files?.close();
    },
  };
}
