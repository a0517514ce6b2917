// Fixtures for worker tests against the MTProto stand-in: a real GramJS session that may post to
// a new channel, the channel's messages as its creator sees them, and a logger whose lines the
// test reads.
import { Writable } from 'node:stream';
import { Api, type TelegramClient } from 'telegram';
import { createChannel, history, inputChannel, resolveUser, signedIn, testPhone } from '../../scripts/telegram/testing.ts';
import type { TelegramStandIn } from '../../scripts/telegram/mtproto/server.ts';
import { createLogger } from '../src/logger.ts';
import type { WorkerConfigInput } from '../src/config.ts';
import { createCampaign, testConfig, type World } from './fixtures.ts';

export interface Poster {
  /** A StringSession of an admin (postMessages) of the channel @<username>: a secret. */
  session: string;
  /** The texts of the channel's messages, as its creator reads them. */
  posted(): Promise<string[]>;
}

/** Signs in a creator (kept, closed by `track`'s owner) and a poster on the stand-in. */
export async function poster(
  s: TelegramStandIn,
  track: (c: TelegramClient) => TelegramClient,
  username: string,
): Promise<Poster> {
  const creator = track(await signedIn(s, testPhone(2)));
  const channel = await createChannel(creator, { username });
  const login = await signedIn(s, testPhone(1));
  await login.invoke(new Api.account.UpdateUsername({ username: `${username}_poster` }));
  await creator.invoke(
    new Api.channels.EditAdmin({
      channel: inputChannel(channel),
      userId: await resolveUser(creator, `${username}_poster`),
      adminRights: new Api.ChatAdminRights({ postMessages: true }),
      rank: '',
    }),
  );
  const session = login.session.save() as unknown as string;
  await login.destroy();
  return { session, posted: async () => (await history(creator, channel)).map((m) => m.message) };
}

/** Channels `owner` creates on the stand-in, added to the user's list by username. */
export async function standInChannels(w: World, owner: TelegramClient, usernames: string[]) {
  const created = [];
  for (const username of usernames) created.push(await createChannel(owner, { username }));
  const { rows } = await w.sql.query(
    `insert into public.channels (owner_id, peer) select $1, '@' || u from unnest($2::text[]) u returning id`,
    [w.userId, usernames],
  );
  return { created, ids: rows.map((r) => r.id as string) };
}

/** A started campaign to @<username> (a channel row of the world's user, made once). */
export async function campaignTo(w: World, username: string, text: string): Promise<string> {
  const { rows } = await w.sql.query(
    `insert into public.channels (owner_id, peer) values ($1, $2)
     on conflict (owner_id, peer) do update set peer = excluded.peer returning id`,
    [
      w.userId,
      `@${username}`,
    ],
  );
  return createCampaign(w, { channelIds: [rows[0].id], text, parseMode: 'plain' });
}

/** The worker's logger at debug level, every line kept as written. */
export function capturedLogger() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger('debug', dest), lines };
}

/** A gramjs worker on the stand-in serving the database's stored sessions (no account list). */
const storedSessionsOn = (s: TelegramStandIn, sessionKey: string) => ({
  mode: 'gramjs' as const,
  accounts: null,
  sessionKey,
  apiId: s.apiId,
  apiHash: s.apiHash,
  server: { dcs: s.dcs, publicKeyPem: s.publicKeyPem },
  sendTimeoutMs: 10_000,
});

export function gramjsConfig(s: TelegramStandIn, w: World, sessionKey: string, extra: Partial<WorkerConfigInput> = {}) {
  return testConfig(w, { ...storedSessionsOn(s, sessionKey), ...extra });
}

/** As the API tests run it: quick polls, no HTTP. */
export function apiWorkerConfig(databaseUrl: string, s: TelegramStandIn, sessionKey: string): WorkerConfigInput {
  return { databaseUrl, ...storedSessionsOn(s, sessionKey), httpPort: null, pollingSeconds: 1, accountLockRetryMs: 500 };
}

/** A gramjs worker on the stand-in serving one listed account: `owner`'s session, as the world's account. */
export function sessionConfig(s: TelegramStandIn, w: World, owner: TelegramClient, extra: Partial<WorkerConfigInput> = {}) {
  return testConfig(w, {
    mode: 'gramjs',
    accounts: [{ accountId: w.accountId, session: owner.session.save() as unknown as string }],
    apiId: s.apiId,
    apiHash: s.apiHash,
    server: { dcs: s.dcs, publicKeyPem: s.publicKeyPem },
    ...extra,
  });
}
