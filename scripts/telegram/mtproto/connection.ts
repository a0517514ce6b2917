// One client connection to a DC: transport framing, the unencrypted key exchange, then encrypted
// messages with their service layer (core.telegram.org/mtproto/service_messages): server salts
// (bad_server_salt), msg_id checks (bad_msg_notification), new_session_created, acks, containers,
// gzip_packed, ping / ping_delay_disconnect, and rpc_result / rpc_error for calls.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Api } from 'telegram';
import { BinaryReader } from 'telegram/extensions/index.js';
import { GZIPPacked, MessageContainer } from 'telegram/tl/core/index.js';
import { returnBigInt } from 'telegram/Helpers.js';
import { RpcFailure } from '../model/errors.ts';
import { decryptFromClient } from './crypto.ts';
import { Handshake } from './handshake.ts';
import type { AuthKeys, KeyRecord } from './keys.ts';
import { Outbox, type Outgoing, plainMessage } from './outbox.ts';
import type { ServerKey } from './rsa.ts';
import { Transport } from './transport.ts';

export interface Call {
  request: unknown;
  keyId: string;
  dcId: number;
}

export interface DcContext {
  dcId: number;
  keys: AuthKeys;
  rsa: ServerKey;
  /** Session ids seen per key, so new_session_created goes out once per session. */
  sessions: Set<string>;
  dispatch(call: Call): Promise<{ getBytes(): Buffer }>;
  /** A half-open DC accepts bytes and never answers. */
  halfOpen(): boolean;
  log(line: string): void;
}

const big = (x: bigint) => returnBigInt(x.toString());
const RPC_RESULT = 0xf35c6d01;

export class Connection {
  private readonly transport = new Transport();
  private readonly handshake: Handshake;
  private key?: KeyRecord;
  private sessionId = 0n;
  private outbox = new Outbox();
  private chain = Promise.resolve();
  private disconnectTimer?: NodeJS.Timeout;
  readonly socket: Socket;
  private readonly ctx: DcContext;

  constructor(socket: Socket, ctx: DcContext) {
    this.socket = socket;
    this.ctx = ctx;
    this.handshake = new Handshake(ctx.rsa);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => clearTimeout(this.disconnectTimer));
  }

  private onData(chunk: Buffer): void {
    if (this.ctx.halfOpen()) return;
    let packets: Buffer[];
    try {
      packets = this.transport.push(chunk);
    } catch (err) {
      this.ctx.log(`dc${this.ctx.dcId}: transport error ${err}`);
      return void this.socket.destroy();
    }
    for (const p of packets) {
      this.chain = this.chain.then(() => this.onPacket(p)).catch((err) => {
        this.ctx.log(`dc${this.ctx.dcId}: dropping connection: ${err instanceof Error ? err.stack : err}`);
        this.socket.destroy();
      });
    }
  }

  private async onPacket(packet: Buffer): Promise<void> {
    const keyId = packet.subarray(0, 8);
    if (keyId.every((b) => b === 0)) return this.onPlain(packet);
    const key = this.ctx.keys.get(keyId.toString('hex'));
    // An unknown key is transport error 404 (core.telegram.org/mtproto/mtproto-transports#transport-errors).
    if (!key) return void this.socket.end(this.transport.error(-404));
    const plain = decryptFromClient(key.key, packet);
    if (!plain) throw new Error('msg_key does not match');
    const salt = plain.readBigInt64LE(0);
    const sessionId = plain.readBigInt64LE(8);
    const msgId = plain.readBigInt64LE(16);
    const seqNo = plain.readInt32LE(24);
    const body = plain.subarray(32, 32 + plain.readInt32LE(28));
    this.enterSession(key, sessionId, msgId);
    const problem = msgIdProblem(msgId);
    if (problem) {
      return this.send(service(new Api.BadMsgNotification({ badMsgId: big(msgId), badMsgSeqno: seqNo, errorCode: problem })));
    }
    if (salt !== key.salt) {
      const notice = { badMsgId: big(msgId), badMsgSeqno: seqNo, errorCode: 48, newServerSalt: big(key.salt) };
      return this.send(service(new Api.BadServerSalt(notice)));
    }
    const acks: bigint[] = [];
    await this.process(msgId, new BinaryReader(body).tgReadObject(), acks);
    if (acks.length) this.send(service(new Api.MsgsAck({ msgIds: acks.map(big) })));
  }

  /** A new session gets new_session_created with the current salt before anything else. */
  private enterSession(key: KeyRecord, sessionId: bigint, firstMsgId: bigint): void {
    this.key = key;
    if (sessionId !== this.sessionId) {
      this.sessionId = sessionId;
      this.outbox = new Outbox();
    }
    const name = `${key.id}:${sessionId}`;
    if (this.ctx.sessions.has(name)) return;
    this.ctx.sessions.add(name);
    const uniqueId = randomBytes(8).readBigInt64LE(0);
    const created = { firstMsgId: big(firstMsgId), uniqueId: big(uniqueId), serverSalt: big(key.salt) };
    this.send({ body: new Api.NewSessionCreated(created).getBytes(), contentRelated: true, response: false });
  }

  /** GramJS reads containers and gzip_packed asynchronously, so objects may arrive as promises. */
  private async process(msgId: bigint, read: unknown, acks: bigint[]): Promise<void> {
    const obj = await read;
    if (obj instanceof MessageContainer) {
      const { messages } = obj as unknown as { messages: { msgId: object; obj: unknown }[] };
      for (const m of messages) await this.process(BigInt(m.msgId.toString()), m.obj, acks);
    } else if (obj instanceof GZIPPacked) {
      await this.process(msgId, new BinaryReader(obj.data).tgReadObject(), acks);
    } else if (obj instanceof Api.MsgsAck) {
      // The client confirms our messages; nothing is resent here, so there is nothing to do.
    } else if (obj instanceof Api.Ping || obj instanceof Api.PingDelayDisconnect) {
      this.pong(msgId, obj);
    } else {
      acks.push(msgId);
      void this.call(msgId, obj);
    }
  }

  /** pong answers ping; ping_delay_disconnect also closes the connection if no ping follows in time. */
  private pong(msgId: bigint, ping: Api.Ping | Api.PingDelayDisconnect): void {
    this.send({
      body: new Api.Pong({ msgId: big(msgId), pingId: ping.pingId }).getBytes(),
      contentRelated: false,
      response: true,
    });
    if (!(ping instanceof Api.PingDelayDisconnect)) return;
    clearTimeout(this.disconnectTimer);
    this.disconnectTimer = setTimeout(() => this.socket.destroy(), ping.disconnectDelay * 1000);
  }

  private async call(msgId: bigint, request: unknown): Promise<void> {
    let result: Buffer;
    try {
      result = (await this.ctx.dispatch({ request, keyId: this.key?.id ?? '', dcId: this.ctx.dcId })).getBytes();
    } catch (err) {
      const failure = err instanceof RpcFailure ? err : new RpcFailure(500, 'INTERNAL');
      if (!(err instanceof RpcFailure)) this.ctx.log(`dc${this.ctx.dcId}: ${err instanceof Error ? err.stack : err}`);
      result = new Api.RpcError({ errorCode: failure.code, errorMessage: failure.type }).getBytes();
    }
    const head = Buffer.alloc(12);
    head.writeUInt32LE(RPC_RESULT, 0);
    head.writeBigInt64LE(msgId, 4);
    this.send({ body: Buffer.concat([head, result]), contentRelated: true, response: true });
  }

  private send(msg: Outgoing): void {
    if (!this.key || this.socket.destroyed || this.ctx.halfOpen()) return;
    this.socket.write(this.transport.frame(this.outbox.seal(this.key.key, this.key.salt, this.sessionId, msg)));
  }

  private async onPlain(packet: Buffer): Promise<void> {
    const body = packet.subarray(20, 20 + packet.readInt32LE(16));
    const { reply, key } = await this.handshake.answer(new BinaryReader(body).tgReadObject());
    if (key) this.ctx.keys.add(key.key, key.salt);
    this.socket.write(this.transport.frame(plainMessage((reply as { getBytes(): Buffer }).getBytes())));
  }
}

const service = (obj: { getBytes(): Buffer }): Outgoing => ({ body: obj.getBytes(), contentRelated: false, response: false });

/**
 * bad_msg_notification codes 16 / 17: a client msg_id more than 300 s in the past or 30 s in the
 * future (core.telegram.org/mtproto/service_messages_about_messages); 18: not divisible by 4.
 */
function msgIdProblem(msgId: bigint): number {
  const seconds = Number(msgId >> 32n);
  const now = Date.now() / 1000;
  if (msgId % 4n !== 0n) return 18;
  if (seconds < now - 300) return 16;
  if (seconds > now + 30) return 17;
  return 0;
}
