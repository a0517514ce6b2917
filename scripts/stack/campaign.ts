// A campaign made and followed through the function URLs, as a client app would: used by the
// demo and by the stack and page tests.
import { randomBytes } from 'node:crypto';
import type { Campaign } from '../../contracts/api/campaigns.ts';
import { isFinished } from '../../contracts/realtime.ts';
import { type Api, mapLimit } from './api.ts';

export interface DemoCampaign {
  campaign: Campaign;
  /** Peers as typed (all lower case, so as stored too), index-aligned with channelIds. */
  peers: string[];
  channelIds: string[];
}

/** Creates `targets` new channels (unique to this run) and a draft campaign to them. */
export async function createDemoCampaign(api: Api, opts: {
  targets: number;
  ratePerMinute: number;
  name?: string;
  media?: { path: string; kind: 'photo' | 'video' | 'document' };
}): Promise<DemoCampaign> {
  // Fresh peers each run: the stack's data persists, and a channel can exist only once per owner.
  const tag = randomBytes(4).toString('hex');
  const peers = Array.from({ length: opts.targets }, (_, i) => `@demo${tag}n${String(i + 1).padStart(4, '0')}`);
  const channels = await mapLimit(
    peers,
    8,
    (peer, i) => api.call<{ id: string }>('POST', '/channels', { peer, title: `Demo channel ${i + 1}`, tags: ['demo'] }),
  );
  const channelIds = channels.map((c) => c.id);
  const campaign = await api.call<Campaign>('POST', '/campaigns', {
    name: opts.name ?? `Demo ${new Date().toISOString().slice(0, 19).replace('T', ' ')}`,
    message: { text: 'Hello from the tg-campaigns demo 👋', parseMode: 'plain', ...(opts.media && { media: opts.media }) },
    channelIds,
    ratePerMinute: opts.ratePerMinute,
  });
  return { campaign, peers, channelIds };
}

/**
 * Polls GET /campaigns/:id until the campaign completes or is cancelled (or `timeoutMs`
 * passes), calling onUpdate on every change. Returns the last campaign seen.
 */
export async function followCampaign(
  api: Api,
  id: string,
  onUpdate: (c: Campaign) => void,
  opts: { everyMs?: number; timeoutMs?: number } = {},
): Promise<Campaign> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
  let last = '';
  for (;;) {
    const c = await api.getCampaign(id);
    const key = JSON.stringify([c.state, c.pauseReason, c.resumeAt, c.counts]);
    if (key !== last) {
      last = key;
      onUpdate(c);
    }
    if (isFinished(c)) return c;
    if (Date.now() > deadline) {
      throw new Error(`campaign ${id} still ${c.state} after ${opts.timeoutMs} ms (sent ${c.counts.sent}/${c.counts.total})`);
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
}
