// MTProto transports (core.telegram.org/mtproto/mtproto-transports), recognised by how a
// connection starts: 0xef abridged, 0xeeeeeeee intermediate, 0xdddddddd padded intermediate, a
// first packet whose sequence number (bytes 4–8) is 0 the full transport (GramJS's default,
// ConnectionTCPFull), and anything else the 64-byte header of the obfuscated transport.
import { createDecipheriv, type Decipheriv, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

type Mode = 'abridged' | 'intermediate' | 'padded' | 'full';

const TAGS: Record<string, Mode> = { efefefef: 'abridged', eeeeeeee: 'intermediate', dddddddd: 'padded' };

export class TransportError extends Error {}

export class Transport {
  private buf = Buffer.alloc(0);
  private mode?: Mode;
  private sendSeq = 0;
  private recvSeq = 0;
  private decipher?: Decipheriv;
  private cipher?: Decipheriv;

  /** Feeds received bytes; returns the complete packets they finish. */
  push(chunk: Buffer): Buffer[] {
    this.buf = Buffer.concat([this.buf, this.decipher ? this.decipher.update(chunk) : chunk]);
    if (!this.mode && !this.start()) return [];
    const packets: Buffer[] = [];
    for (let p = this.next(); p; p = this.next()) packets.push(p);
    return packets;
  }

  /** Frames one packet for sending. */
  frame(payload: Buffer): Buffer {
    let framed: Buffer;
    if (this.mode === 'full') {
      const head = Buffer.alloc(8);
      head.writeInt32LE(payload.length + 12, 0);
      head.writeInt32LE(this.sendSeq++, 4);
      const crc = Buffer.alloc(4);
      crc.writeUInt32LE(crc32(Buffer.concat([head, payload])), 0);
      framed = Buffer.concat([head, payload, crc]);
    } else if (this.mode === 'abridged') {
      const words = payload.length / 4;
      const head = words < 0x7f ? Buffer.from([words]) : Buffer.from([0x7f, words & 0xff, (words >> 8) & 0xff, words >> 16]);
      framed = Buffer.concat([head, payload]);
    } else {
      const pad = this.mode === 'padded' ? randomBytes(Math.floor(Math.random() * 16)) : Buffer.alloc(0);
      const head = Buffer.alloc(4);
      head.writeUInt32LE(payload.length + pad.length, 0);
      framed = Buffer.concat([head, payload, pad]);
    }
    return this.cipher ? this.cipher.update(framed) : framed;
  }

  /** Transport errors are a 4-byte packet holding the negative code, e.g. -404 for an unknown auth key. */
  error(code: number): Buffer {
    const body = Buffer.alloc(4);
    body.writeInt32LE(code, 0);
    return this.frame(body);
  }

  private start(): boolean {
    if (this.buf[0] === 0xef) return this.begin('abridged', 1);
    if (this.buf.length < 8) return false;
    const tag = TAGS[this.buf.subarray(0, 4).toString('hex')];
    if (tag && tag !== 'abridged') return this.begin(tag, 4);
    if (this.buf.readUInt32LE(4) === 0) return this.begin('full', 0);
    return this.buf.length >= 64 && this.obfuscated();
  }

  private begin(mode: Mode, skip: number): boolean {
    this.mode = mode;
    this.buf = this.buf.subarray(skip);
    return true;
  }

  /** The obfuscated header: AES-256-CTR keys from bytes 8–56, reversed for the server's direction. */
  private obfuscated(): boolean {
    const header = this.buf.subarray(0, 64);
    const reversed = Buffer.from(header.subarray(8, 56)).reverse();
    this.decipher = createDecipheriv('aes-256-ctr', header.subarray(8, 40), header.subarray(40, 56));
    this.cipher = createDecipheriv('aes-256-ctr', reversed.subarray(0, 32), reversed.subarray(32, 48));
    const plainHeader = this.decipher.update(header);
    const mode = TAGS[plainHeader.subarray(56, 60).toString('hex')];
    if (!mode) throw new TransportError('unknown obfuscated protocol tag');
    const rest = this.decipher.update(this.buf.subarray(64));
    this.buf = rest;
    this.mode = mode;
    return true;
  }

  private next(): Buffer | undefined {
    const b = this.buf;
    let start: number;
    let len: number;
    if (this.mode === 'abridged') {
      if (b.length < 1) return undefined;
      const first = (b[0] ?? 0) & 0x7f;
      if (first === 0x7f && b.length < 4) return undefined;
      [start, len] = first === 0x7f ? [4, b.readUIntLE(1, 3) * 4] : [1, first * 4];
    } else {
      if (b.length < 4) return undefined;
      [start, len] = [4, b.readUInt32LE(0) & 0x7fffffff];
      if (this.mode === 'full') len -= 4;
    }
    if (b.length < start + len) return undefined;
    this.buf = b.subarray(start + len);
    return this.mode === 'full' ? this.checkFull(b.subarray(0, start + len)) : b.subarray(start, start + len);
  }

  /** Full transport: length, sequence number, payload, CRC32 of all before it. */
  private checkFull(packet: Buffer): Buffer {
    const body = packet.subarray(0, -4);
    if (crc32(body) !== packet.readUInt32LE(packet.length - 4)) throw new TransportError('bad CRC32');
    if (packet.readInt32LE(4) !== this.recvSeq++) throw new TransportError('bad sequence number');
    return body.subarray(8);
  }
}
