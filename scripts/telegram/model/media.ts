// Uploaded photos and documents, and their file references. messages.uploadMedia turns saved parts
// into a photo or document "that can be used to later send the file to multiple chats, without
// reuploading it every time"; messages.sendMedia takes the same uploaded input, or an existing
// photo/document by id, access_hash and file_reference (core.telegram.org/api/files, "Resending
// existing files"). File references expire: the client then refetches the object from where it
// saw it and gets a fresh reference for the same id (core.telegram.org/api/file_reference).
import { randomBytes } from 'node:crypto';
import { badRequest } from './errors.ts';
import type { Faults } from './faults.ts';
import { FileParts, type InputFileRef } from './file-parts.ts';
import { DEFAULT_UPLOAD_CONFIG, type UploadConfig } from './media-config.ts';
import type { Account } from './state.ts';

export type MediaKind = 'photo' | 'document';

/**
 * An uploaded photo's file name must end in an image extension, else 400 PHOTO_EXT_INVALID ("The
 * extension of the photo is invalid", method/messages.uploadMedia and /method/messages.sendMedia;
 * Telethon's upload_file adds an extension because "Telegram complains with PHOTO_EXT_INVALID even
 * if the uploaded image is indeed a photo"). Which extensions Telegram takes is not published.
 */
const PHOTO_EXT = /\.(jpe?g|png|webp|gif|bmp|heic|tiff?)$/i;

export interface StoredFile {
  kind: MediaKind;
  id: bigint;
  accessHash: bigint;
  /** The DC the file was uploaded on. */
  dcId: number;
  date: number;
  size: number;
  name: string;
  mimeType: string;
  /** A file_reference given out now (with a message or an upload): the current one, or a new one once it has aged. */
  reference(): Buffer;
}

/** What an InputMedia asks for, as the model understands it. */
export type MediaInput =
  | { kind: 'uploaded'; as: MediaKind; file: InputFileRef; mimeType: string; name?: string }
  | { kind: 'existing'; as: MediaKind; id: bigint; accessHash: bigint; fileReference: Buffer };

interface FileRecord {
  file: StoredFile;
  /** Every reference given out for the file (hex) and when: old ones answer EXPIRED, never INVALID. */
  issued: Map<string, number>;
}

export class Media {
  readonly config: UploadConfig;
  readonly parts: FileParts;
  private readonly files = new Map<bigint, FileRecord>();
  private nextId = 5_000_000_000n;

  private readonly now: () => number;
  private readonly faults: Faults;

  constructor(config: Partial<UploadConfig>, now: () => number, faults: Faults) {
    this.now = now;
    this.faults = faults;
    this.config = { ...DEFAULT_UPLOAD_CONFIG, ...config };
    this.parts = new FileParts(this.config, now, faults);
  }

  /** messages.uploadMedia: the uploaded file becomes a photo or document of its own. */
  async upload(account: Account, input: MediaInput, dcId: number): Promise<StoredFile> {
    await this.faults.apply('messages.uploadMedia');
    return this.resolve(account, input, dcId);
  }

  /** The photo or document an InputMedia names: a new one from saved parts, or an existing one checked. */
  resolve(account: Account, input: MediaInput, dcId: number): StoredFile {
    return input.kind === 'uploaded' ? this.create(account, input, dcId) : this.existing(input);
  }

  private create(account: Account, input: MediaInput & { kind: 'uploaded' }, dcId: number): StoredFile {
    const bytes = this.parts.assemble(account.id, input.file);
    // A photo over 10 MB: messages.sendMedia answered 400 PHOTO_SAVE_FILE_INVALID (zhukov/webogram#1011).
    if (input.as === 'photo' && bytes.length > this.config.photoMaxBytes) badRequest('PHOTO_SAVE_FILE_INVALID');
    if (input.as === 'photo' && !PHOTO_EXT.test(input.file.name)) badRequest('PHOTO_EXT_INVALID');
    const issued = new Map<string, number>();
    const file: StoredFile = {
      kind: input.as,
      id: this.nextId++,
      accessHash: randomBytes(8).readBigInt64LE(0),
      dcId,
      date: Math.floor(this.now() / 1000),
      size: bytes.length,
      name: input.name ?? input.file.name,
      mimeType: input.as === 'photo' ? 'image/jpeg' : input.mimeType,
      reference: () => this.reference(issued),
    };
    this.files.set(file.id, { file, issued });
    return file;
  }

  /**
   * inputPhoto / inputDocument: an unknown id or a wrong access_hash is MEDIA_EMPTY, an empty
   * reference FILE_REFERENCE_EMPTY, one never given out FILE_REFERENCE_INVALID, one older than
   * fileReferenceTtlMs FILE_REFERENCE_EXPIRED (core.telegram.org/api/file_reference).
   */
  private existing(input: MediaInput & { kind: 'existing' }): StoredFile {
    const record = this.files.get(input.id) ?? badRequest('MEDIA_EMPTY');
    if (record.file.kind !== input.as || record.file.accessHash !== input.accessHash) badRequest('MEDIA_EMPTY');
    if (input.fileReference.length === 0) badRequest('FILE_REFERENCE_EMPTY');
    const issuedAt = record.issued.get(input.fileReference.toString('hex')) ?? badRequest('FILE_REFERENCE_INVALID');
    if (this.now() - issuedAt >= this.config.fileReferenceTtlMs) badRequest('FILE_REFERENCE_EXPIRED');
    return record.file;
  }

  /** The newest reference while it is younger than half its lifetime, else a new one. */
  private reference(issued: Map<string, number>): Buffer {
    const now = this.now();
    const newest = [...issued].at(-1);
    if (newest && now - newest[1] < this.config.fileReferenceTtlMs / 2) return Buffer.from(newest[0], 'hex');
    const ref = randomBytes(16);
    issued.set(ref.toString('hex'), now);
    return ref;
  }
}
