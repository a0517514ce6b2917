// Uploads as Telegram handles them, for the simulator: upload.saveFilePart stores parts per file
// id, messages.uploadMedia turns them into a photo or document with an id, access hash and file
// reference, and messages.sendMedia must refer to one of the sending account's uploads with a
// reference still valid (FILE_REFERENCE_EXPIRED otherwise: expired, or unknown after a restart).
import { randomBytes } from 'node:crypto';
import { Api } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';

export interface UploadRecord {
  accountId: string;
  kind: 'photo' | 'video' | 'document';
  bytes: number;
  at: number;
}

type Fail = (code: number, message: string) => never;

interface File {
  accountId: string;
  kind: UploadRecord['kind'];
  fileReference: string;
  expiresAt: number;
}

export class SimulatedMedia {
  /** Every messages.uploadMedia that made a file, in order (one per campaign and account is the goal). */
  readonly uploads: UploadRecord[] = [];
  readonly #ttlMs: number;
  readonly #parts = new Map<string, number>();
  readonly #files = new Map<string, File>();
  #nextId = 5_000_000_000n;

  readonly #now: () => number;

  constructor(ttlMs = Number.POSITIVE_INFINITY, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  savePart(accountId: string, req: Api.upload.SaveFilePart | Api.upload.SaveBigFilePart): boolean {
    const key = `${accountId}|${req.fileId}`;
    this.#parts.set(key, (this.#parts.get(key) ?? 0) + req.bytes.length);
    return true;
  }

  upload(accountId: string, req: Api.messages.UploadMedia, fail: Fail): Api.TypeMessageMedia {
    const m = req.media;
    if (!(m instanceof Api.InputMediaUploadedPhoto) && !(m instanceof Api.InputMediaUploadedDocument)) fail(400, 'MEDIA_INVALID');
    const key = `${accountId}|${m.file.id}`;
    const bytes = this.#parts.get(key);
    if (bytes === undefined) fail(400, 'FILE_PARTS_INVALID');
    this.#parts.delete(key);
    const kind = m instanceof Api.InputMediaUploadedPhoto
      ? 'photo'
      : m.attributes.some((a) => a instanceof Api.DocumentAttributeVideo)
      ? 'video'
      : 'document';
    const id = String(this.#nextId++);
    const file: File = {
      accountId,
      kind,
      fileReference: randomBytes(16).toString('base64'),
      expiresAt: this.#now() + this.#ttlMs,
    };
    this.#files.set(id, file);
    this.uploads.push({ accountId, kind, bytes: bytes!, at: this.#now() });
    const common = {
      id: returnBigInt(id),
      accessHash: returnBigInt(id).multiply(7),
      fileReference: Buffer.from(file.fileReference, 'base64'),
      date: 0,
      dcId: 2,
    };
    return kind === 'photo'
      ? new Api.MessageMediaPhoto({ photo: new Api.Photo({ ...common, sizes: [] }) })
      : new Api.MessageMediaDocument({
        document: new Api.Document({
          ...common,
          mimeType: (m as Api.InputMediaUploadedDocument).mimeType,
          size: returnBigInt(bytes!),
          attributes: [],
        }),
      });
  }

  /** The kind of file a SendMedia refers to, if the sending account may still use it. */
  check(accountId: string, media: Api.TypeInputMedia, fail: Fail): string {
    const input = media instanceof Api.InputMediaPhoto ? media.id : media instanceof Api.InputMediaDocument ? media.id : null;
    if (!(input instanceof Api.InputPhoto) && !(input instanceof Api.InputDocument)) return fail(400, 'MEDIA_INVALID');
    const file = this.#files.get(input.id.toString());
    if (file && file.accountId !== accountId) fail(400, 'MEDIA_INVALID');
    if (!file || file.expiresAt <= this.#now() || Buffer.from(input.fileReference).toString('base64') !== file.fileReference) {
      fail(400, 'FILE_REFERENCE_EXPIRED');
    }
    return file!.kind;
  }

  /** Every reference handed out so far stops working (tests: what Telegram does after a while). */
  expireAll(): void {
    for (const f of this.#files.values()) f.expiresAt = 0;
  }
}
