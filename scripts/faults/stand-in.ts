// "Telegram" of a fault scenario: the MTProto stand-in (scripts/telegram/), started in the
// harness process so it outlives every kill of the worker and of Postgres, with the scenario's
// accounts signed up and their channels created through MTProto. The worker reaches it with its
// real GramJS network stack (TELEGRAM_MODE=gramjs, TELEGRAM_SERVER); what was posted is read back
// with messages.getHistory, never from our database.
import { startStandIn, type TelegramStandIn } from '../telegram/mtproto/server.ts';
import { TelegramModel } from '../telegram/model/model.ts';
import { buildWorld, type Post, standInPrivateKey, type WorldAccount, worldPosts } from '../telegram/world.ts';
import { withClient } from '../lib/database.ts';

/** "Telegram" as a scenario sees it. */
export interface TelegramSide {
  /** The stand-in (socket faults, the model's fault hooks). */
  standIn: TelegramStandIn;
  /** Environment for a worker serving every account of the scenario. */
  workerEnv: Record<string, string>;
  /** Every post Telegram stored in the scenario's channels. */
  posts(): Promise<Post[]>;
  /** How many posts each target (a delivery's peer) holds. */
  counts(): Promise<(peer: string) => number>;
  /** Lifts every socket fault and model fault (before the audit reads the history). */
  heal(): void;
  close(): Promise<void>;
}

/** Posts per peer. */
export function countPosts(posts: ReadonlyArray<Pick<Post, 'peer'>>): (peer: string) => number {
  const n = new Map<string, number>();
  for (const p of posts) n.set(p.peer, (n.get(p.peer) ?? 0) + 1);
  return (peer) => n.get(peer) ?? 0;
}

let privateKey: string | undefined;

/**
 * The deliveries' peers of each campaign's account (the fleet seed names them @f<u>a<a>x<i>):
 * each account creates exactly the channels its campaign targets.
 */
async function channelsByAccount(url: string, campaignIds: string[]): Promise<Array<{ accountId: string; usernames: string[] }>> {
  return await withClient(url, async (c) =>
    (await c.query<{ account_id: string; peers: string[] }>(
      `select c.account_id, array_agg(distinct d.peer order by d.peer) as peers
       from public.campaigns c join public.deliveries d on d.campaign_id = c.id
       where c.id = any($1::uuid[]) group by c.account_id order by c.account_id`,
      [campaignIds],
    )).rows.map((r) => ({ accountId: r.account_id, usernames: r.peers.map((p) => p.replace(/^@/, '')) })));
}

/**
 * Telegram's own limits sit above the scenario's pace (the pacing is the worker's job), and
 * username resolution is not limited: every account resolves each of its channels once, and the
 * resolution limit has tests of its own (scripts/telegram/peers.test.ts).
 */
export async function startScenarioTelegram(
  url: string,
  campaignIds: string[],
  ratePerSecond: number,
): Promise<TelegramSide> {
  privateKey ??= standInPrivateKey();
  const model = new TelegramModel({
    config: {
      accountSend: { limit: Math.max(100, Math.ceil(ratePerSecond * 3)), ms: 1_000 },
      resolve: { limit: 1_000_000, ms: 1_000 },
    },
  });
  const standIn = await startStandIn({ model, privateKeyPem: privateKey });
  try {
    const owners = await channelsByAccount(url, campaignIds);
    const world: WorldAccount[] = await buildWorld(standIn, owners.map((o) => o.usernames));
    const accounts = owners.map((o, i) => ({ accountId: o.accountId, session: world[i]!.session }));
    const posts = () => worldPosts(standIn, world);
    return {
      standIn,
      workerEnv: {
        TELEGRAM_MODE: 'gramjs',
        TELEGRAM_ACCOUNTS: JSON.stringify(accounts),
        TELEGRAM_API_ID: String(standIn.apiId),
        TELEGRAM_API_HASH: standIn.apiHash,
        TELEGRAM_SERVER: JSON.stringify({ dcs: standIn.dcs, publicKeyPem: standIn.publicKeyPem }),
      },
      posts,
      counts: async () => countPosts(await posts()),
      heal() {
        model.faults.clear();
        for (const dc of standIn.dcs) {
          standIn.setDown(dc.id, false);
          standIn.setHalfOpen(dc.id, false);
        }
      },
      close: () => standIn.close(),
    };
  } catch (err) {
    await standIn.close();
    throw err;
  }
}
