// A Telegram server other than Telegram's production DCs: Telegram's test DCs, or a stand-in
// such as the local stack's. GramJS knows only the production addresses and keys, so two
// things are given to it here: the server's RSA key, and the address of each DC.
import { createHash, createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { _serverKeys } from 'telegram/crypto/RSA.js';
import { returnBigInt } from 'telegram/Helpers.js';
import { type Connection, ConnectionTCPFull } from 'telegram/network/index.js';
import { serializeBytes } from 'telegram/tl/generationHelpers.js';

export const TelegramServer = z.object({
  dcs: z.array(z.object({ id: z.number().int().positive(), host: z.string().min(1), port: z.number().int().min(1).max(65535) }))
    .min(1),
  /** The server's RSA public key (PEM), used in the auth key exchange. */
  publicKeyPem: z.string().includes('PUBLIC KEY'),
});
export type TelegramServer = z.infer<typeof TelegramServer>;

/**
 * Lets GramJS use the server's key. GramJS picks the key named by the server's fingerprint from
 * `_serverKeys` (telegram/crypto/RSA.js); the fingerprint is "the 64 lower-order bits of
 * SHA1(server_public_key)", the key serialized as TL `rsa_public_key n:bytes e:bytes`
 * (core.telegram.org/mtproto/auth_key, step 2).
 */
export function trustServerKey(publicKeyPem: string): void {
  const jwk = createPublicKey(publicKeyPem).export({ format: 'jwk' });
  const n = Buffer.from(jwk.n ?? '', 'base64url');
  const e = Buffer.from(jwk.e ?? '', 'base64url');
  const sha = createHash('sha1').update(Buffer.concat([serializeBytes(n), serializeBytes(e)])).digest();
  _serverKeys.set(sha.readBigInt64LE(12).toString(), {
    n: returnBigInt(BigInt(`0x${n.toString('hex')}`).toString()),
    e: Number(BigInt(`0x${e.toString('hex')}`)),
  });
}

/**
 * A connection class (ConnectionTCPFull by default) aimed at the server's address for the DC it
 * is opened for: TelegramClient.connect() hands the connection port 80 (443 with WSS) whatever
 * the session holds, and a DC migration names only the DC's id.
 */
export function serverConnection(server: TelegramServer, base: typeof Connection = ConnectionTCPFull): typeof Connection {
  return class ServerConnection extends base {
    constructor(params: ConstructorParameters<typeof Connection>[0]) {
      const dc = server.dcs.find((d) => d.id === params.dcId) ?? server.dcs[0];
      super({ ...params, ip: dc?.host ?? params.ip, port: dc?.port ?? params.port });
    }
  };
}
