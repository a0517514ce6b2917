// What a GramJS client needs to talk to the stand-in, given its StandInEntry:
//  1. trust its RSA key: GramJS picks the server key from the map `_serverKeys` in
//     telegram/crypto/RSA.js, keyed by fingerprint, holding { n, e }; adding an entry at runtime is enough;
//  2. connect to the right port: TelegramClient.connect() passes port 80 (443 with WSS) to the
//     connection class whatever the session says, so the connection class maps each DC id to
//     the stand-in's port itself;
//  3. start the session on one of its DCs (session.setDC).
import { Logger, TelegramClient } from 'telegram';
import type { TelegramClientParams } from 'telegram/client/telegramBaseClient.js';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { _serverKeys } from 'telegram/crypto/RSA.js';
import { returnBigInt } from 'telegram/Helpers.js';
import { type Connection, ConnectionTCPFull } from 'telegram/network/index.js';
import { StringSession } from 'telegram/sessions/index.js';
import { fingerprintOf, publicNumbers } from './mtproto/rsa.ts';
import type { StandInEntry } from './mtproto/server.ts';

export function trustPublicKey(publicKeyPem: string): void {
  const { n, e } = publicNumbers(publicKeyPem);
  _serverKeys.set(fingerprintOf(publicKeyPem).toString(), {
    n: returnBigInt(BigInt(`0x${n.toString('hex')}`).toString()),
    e: Number(BigInt(`0x${e.toString('hex')}`)),
  });
}

/** A GramJS connection class (ConnectionTCPFull by default) aimed at the stand-in's port for the DC it is opened for. */
export function standInConnection(entry: StandInEntry, base: typeof Connection = ConnectionTCPFull): typeof Connection {
  return class StandInConnection extends base {
    constructor(params: ConstructorParameters<typeof Connection>[0]) {
      const dc = entry.dcs.find((d) => d.id === params.dcId) ?? entry.dcs[0];
      super({ ...params, ip: dc?.host ?? params.ip, port: dc?.port ?? params.port });
    }
  };
}

/** A plain GramJS client for the stand-in, on `dcId` (the first DC by default). */
export function standInClient(
  entry: StandInEntry,
  opts: { session?: string; dcId?: number; params?: TelegramClientParams; transport?: typeof Connection } = {},
): TelegramClient {
  trustPublicKey(entry.publicKeyPem);
  const session = new StringSession(opts.session ?? '');
  const dc = entry.dcs.find((d) => d.id === opts.dcId) ?? entry.dcs[0];
  if (!opts.session && dc) session.setDC(dc.id, dc.host, dc.port);
  return new TelegramClient(session, entry.apiId, entry.apiHash, {
    connection: standInConnection(entry, opts.transport),
    connectionRetries: 3,
    retryDelay: 200,
    autoReconnect: true,
    baseLogger: new Logger(LogLevel.NONE),
    ...opts.params,
  });
}
