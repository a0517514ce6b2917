// What a GramJS client needs to talk to the stand-in, given its StandInEntry: the worker's own
// support for a Telegram server other than Telegram's (worker/src/gateway/server.ts) trusts its
// RSA key and aims each DC's connection at its port; a new session starts on one of its DCs.
import { Logger, TelegramClient } from 'telegram';
import type { TelegramClientParams } from 'telegram/client/telegramBaseClient.js';
import { LogLevel } from 'telegram/extensions/Logger.js';
import type { Connection } from 'telegram/network/index.js';
import { StringSession } from 'telegram/sessions/index.js';
import { serverConnection, trustServerKey } from '../../worker/src/gateway/server.ts';
import type { StandInEntry } from './mtproto/server.ts';

/** A plain GramJS client for the stand-in, on `dcId` (the first DC by default). */
export function standInClient(
  entry: StandInEntry,
  opts: { session?: string; dcId?: number; params?: TelegramClientParams; transport?: typeof Connection } = {},
): TelegramClient {
  trustServerKey(entry.publicKeyPem);
  const session = new StringSession(opts.session ?? '');
  const dc = entry.dcs.find((d) => d.id === opts.dcId) ?? entry.dcs[0];
  if (!opts.session && dc) session.setDC(dc.id, dc.host, dc.port);
  return new TelegramClient(session, entry.apiId, entry.apiHash, {
    connection: serverConnection(entry, opts.transport),
    connectionRetries: 3,
    retryDelay: 200,
    autoReconnect: true,
    baseLogger: new Logger(LogLevel.NONE),
    ...opts.params,
  });
}
