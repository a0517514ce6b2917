// The stand-in's DCs: one TCP listener per DC on loopback, each speaking MTProto 2.0 in front of
// one shared model. Socket-level faults are switched here: dropped connections, a DC that is down
// (connections closed as they arrive), a half-open DC (bytes accepted, nothing answered), and
// forgotten auth keys (clients get transport error 404 and create new keys).
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TelegramModel } from '../model/model.ts';
import { Connection } from './connection.ts';
import { AuthKeys } from './keys.ts';
import { type DcAddress, dispatcher } from './methods/index.ts';
import { serverKey } from './rsa.ts';

export interface StandInOptions {
  model?: TelegramModel;
  /** DC ids; test numbers 99966XYYYY belong to DC X, so 1–3 cover every test number. */
  dcIds?: number[];
  host?: string;
  /** One port per DC; 0 (the default) picks a free one below 32768 (see listen()). */
  ports?: number[];
  /** A PEM RSA private key; a new 2048-bit key is generated when absent. */
  privateKeyPem?: string;
  /** The auth keys each DC knows (default: none); a caller that keeps them across restarts keeps sessions valid. */
  authKeys?: (dcId: number) => AuthKeys;
  apiId?: number;
  apiHash?: string;
  log?: (line: string) => void;
}

/** What a GramJS client needs to connect (the future stack.json `telegram` entry). */
export interface StandInEntry {
  dcs: DcAddress[];
  publicKeyPem: string;
  apiId: number;
  apiHash: string;
}

export interface TelegramStandIn extends StandInEntry {
  model: TelegramModel;
  dropConnections(dcId?: number): void;
  setDown(dcId: number, down: boolean): void;
  /** Half-open: nothing is answered while it lasts, and connections accepted meanwhile never answer. */
  setHalfOpen(dcId: number, halfOpen: boolean): void;
  forgetKeys(dcId?: number): void;
  /**
   * Stand-in only: makes a DC know `key` as if a key exchange had created it (a fresh server salt);
   * returns its auth_key_id as hex. sessions.ts uses it to hand out signed-in sessions without the
   * DH exchange's cost.
   */
  registerAuthKey(dcId: number, key: Buffer): string;
  /** Gives every key a new server salt: clients learn it from bad_server_salt and resend. */
  rotateSalts(dcId?: number): void;
  /** Open client connections of a DC. */
  connections(dcId: number): number;
  close(): Promise<void>;
}

interface Dc {
  address: DcAddress;
  server: Server;
  sockets: Set<Socket>;
  keys: AuthKeys;
  down: boolean;
  halfOpen: boolean;
}

export async function startStandIn(opts: StandInOptions = {}): Promise<TelegramStandIn> {
  const model = opts.model ?? new TelegramModel();
  const rsa = serverKey(opts.privateKeyPem);
  const host = opts.host ?? '127.0.0.1';
  const apiId = opts.apiId ?? 17349;
  const apiHash = opts.apiHash ?? 'stand-in-api-hash';
  const log = opts.log ?? (() => {});
  const dcs: Dc[] = [];
  const dispatch = dispatcher({ model, dcs: () => dcs.map((d) => d.address), apiId, apiHash });
  for (const [i, id] of (opts.dcIds ?? [1, 2, 3]).entries()) {
    const dc: Dc = {
      address: { id, host, port: 0 },
      server: createServer(),
      sockets: new Set(),
      keys: opts.authKeys?.(id) ?? new AuthKeys(),
      down: false,
      halfOpen: false,
    };
    const sessions = new Set<string>();
    const ctx = { dcId: id, keys: dc.keys, rsa, sessions, dispatch, halfOpen: () => dc.halfOpen, log };
    dc.server.on('connection', (socket) => {
      if (dc.down) return void socket.destroy();
      socket.setNoDelay(true);
      dc.sockets.add(socket);
      socket.on('close', () => dc.sockets.delete(socket));
      // A connection accepted while the DC is half-open stays silent for good, like a dead peer.
      const silent = dc.halfOpen;
      new Connection(socket, { ...ctx, halfOpen: () => silent || dc.halfOpen });
    });
    dc.address.port = await listen(dc.server, host, opts.ports?.[i] ?? 0);
    dcs.push(dc);
  }
  const pick = (dcId?: number) => dcs.filter((d) => dcId === undefined || d.address.id === dcId);
  const dcOf = (dcId: number) =>
    pick(dcId)[0] ?? (() => {
      throw new Error(`no DC ${dcId}`);
    })();
  return {
    model,
    dcs: dcs.map((d) => d.address),
    publicKeyPem: rsa.publicKeyPem,
    apiId,
    apiHash,
    dropConnections: (dcId) => pick(dcId).forEach((d) => d.sockets.forEach((s) => s.destroy())),
    setDown(dcId, down) {
      const dc = dcOf(dcId);
      dc.down = down;
      if (down) dc.sockets.forEach((s) => s.destroy());
    },
    setHalfOpen: (dcId, halfOpen) => void (dcOf(dcId).halfOpen = halfOpen),
    forgetKeys: (dcId) => pick(dcId).forEach((d) => d.keys.clear()),
    registerAuthKey: (dcId, key) => dcOf(dcId).keys.add(key, randomBytes(8).readBigInt64LE(0)).id,
    connections: (dcId) => dcOf(dcId).sockets.size,
    rotateSalts: (dcId) => pick(dcId).forEach((d) => d.keys.rotateSalts()),
    async close() {
      for (const d of dcs) {
        d.sockets.forEach((s) => s.destroy());
        await new Promise((resolve) => d.server.close(resolve));
      }
    },
  };
}

/**
 * GramJS's StringSession stores the port as a signed 16-bit number, so a port above 32767 breaks
 * session.save(); the kernel's ephemeral ports are above it, so free ports are picked at random
 * from 20000–32767 instead.
 */
async function listen(server: Server, host: string, port: number): Promise<number> {
  for (let attempt = 0;; attempt++) {
    const p = port || 20_000 + Math.floor(Math.random() * 12_768);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return p;
    } catch (err) {
      if (port || attempt >= 50 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}
