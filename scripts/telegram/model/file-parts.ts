// Saved file parts (core.telegram.org/api/files, "Uploading files"): a client names a file with a
// random 64-bit file_id, saves its parts with upload.saveFilePart (files up to 10 MB) or
// upload.saveBigFilePart (larger ones, with file_total_parts), then passes an inputFile or
// inputFileBig to messages.uploadMedia / messages.sendMedia, which assemble the parts. Parts are
// kept per (account, file_id) and become unavailable after a while (config.partTtlMs).
import { createHash } from 'node:crypto';
import { badRequest, fail } from './errors.ts';
import type { Faults } from './faults.ts';
import type { UploadConfig } from './media-config.ts';

/** An inputFile (big: false) or inputFileBig (big: true) as a client passes it. */
export interface InputFileRef {
  id: bigint;
  parts: number;
  big: boolean;
  name: string;
  md5: string;
}

interface SavedFile {
  /** Saved with upload.saveBigFilePart, which names the total number of parts. */
  big: boolean;
  totalParts?: number;
  parts: Map<number, { bytes: Buffer; savedAt: number }>;
}

/** "524288 % part_size = 0 (512KB must be evenly divisible by part_size)" and "part_size % 1024 = 0". */
const validPartSize = (n: number) => n % 1024 === 0 && 524288 % n === 0;

/**
 * All parts have one size, part_size, except the last, which may be smaller ("The last part does
 * not have to satisfy these conditions, provided its size is less than part_size"): a part size
 * 512 KB does not divide is FILE_PART_SIZE_INVALID, another size than the other parts'
 * FILE_PART_SIZE_CHANGED. `last` is the last part's number, or the highest saved so far.
 */
function checkSizes(sizes: Map<number, number>, last: number): void {
  const full = [...sizes].filter(([i]) => i !== last).map(([, n]) => n);
  const partSize = full[0];
  if (partSize === undefined) return;
  for (const n of full) {
    if (!validPartSize(n)) badRequest('FILE_PART_SIZE_INVALID');
    if (n !== partSize) badRequest('FILE_PART_SIZE_CHANGED');
  }
  if ((sizes.get(last) ?? 0) > partSize) badRequest('FILE_PART_SIZE_CHANGED');
}

export class FileParts {
  private readonly files = new Map<string, SavedFile>();
  /** Bytes each account saved recently, for config.premiumWait. */
  private readonly saved = new Map<bigint, { at: number; bytes: number }[]>();

  private readonly config: UploadConfig;
  private readonly now: () => number;
  private readonly faults: Faults;

  constructor(config: UploadConfig, now: () => number, faults: Faults) {
    this.config = config;
    this.now = now;
    this.faults = faults;
  }

  /** upload.saveFilePart (totalParts undefined) or upload.saveBigFilePart. */
  async save(accountId: bigint, fileId: bigint, part: number, bytes: Buffer, totalParts?: number): Promise<void> {
    await this.faults.apply(totalParts === undefined ? 'upload.saveFilePart' : 'upload.saveBigFilePart');
    const big = totalParts !== undefined;
    if (bytes.length === 0) badRequest('FILE_PART_EMPTY');
    if (bytes.length > this.config.maxPartBytes) badRequest('FILE_PART_TOO_BIG');
    if (big && (totalParts < 1 || totalParts > this.config.maxParts)) badRequest('FILE_PARTS_INVALID');
    if (part < 0 || part >= this.config.maxParts || (big && part >= totalParts)) badRequest('FILE_PART_INVALID');
    const key = `${accountId}:${fileId}`;
    const file = this.live(key) ?? { big, totalParts, parts: new Map() };
    // One file_id, one kind of upload and one total: anything else is "an invalid number of parts".
    if (file.big !== big || file.totalParts !== totalParts) badRequest('FILE_PARTS_INVALID');
    const sizes = new Map([...file.parts].map(([i, p]) => [i, p.bytes.length]));
    sizes.set(part, bytes.length);
    checkSizes(sizes, big ? totalParts - 1 : Math.max(...sizes.keys()));
    this.takePremium(accountId, bytes.length);
    file.parts.set(part, { bytes, savedAt: this.now() });
    this.files.set(key, file);
  }

  /**
   * The file an inputFile / inputFileBig names, assembled: FILE_PARTS_INVALID for a number of parts
   * out of 1..upload_max_fileparts or not the one saved, FILE_PART_X_MISSING for the first part
   * not (or no longer) stored, MD5_CHECKSUM_INVALID for a checksum that does not match.
   */
  assemble(accountId: bigint, input: InputFileRef): Buffer {
    if (input.parts < 1 || input.parts > this.config.maxParts) badRequest('FILE_PARTS_INVALID');
    const file = this.live(`${accountId}:${input.id}`);
    for (let i = 0; i < input.parts; i++) if (!file?.parts.has(i)) fail(400, `FILE_PART_${i}_MISSING`);
    if (!file) return badRequest('FILE_PARTS_INVALID');
    if (file.big !== input.big || Math.max(...file.parts.keys()) >= input.parts) badRequest('FILE_PARTS_INVALID');
    checkSizes(new Map([...file.parts].map(([i, p]) => [i, p.bytes.length])), input.parts - 1);
    const bytes = Buffer.concat([...Array(input.parts).keys()].map((i) => file.parts.get(i)!.bytes));
    // Files over 10 MB must go through upload.saveBigFilePart; the error for one that did not is ours.
    if (!input.big && bytes.length > this.config.bigFileBytes) badRequest('FILE_PARTS_INVALID');
    if (input.md5 && createHash('md5').update(bytes).digest('hex') !== input.md5.toLowerCase()) {
      badRequest('MD5_CHECKSUM_INVALID');
    }
    return bytes;
  }

  /** The file's parts still stored; parts older than partTtlMs are gone (and so is a file without parts). */
  private live(key: string): SavedFile | undefined {
    const file = this.files.get(key);
    if (!file) return undefined;
    const cutoff = this.now() - this.config.partTtlMs;
    for (const [i, p] of file.parts) if (p.savedAt <= cutoff) file.parts.delete(i);
    if (file.parts.size === 0) this.files.delete(key);
    return file.parts.size ? file : undefined;
  }

  /** 420 FLOOD_PREMIUM_WAIT_X once an account saved more than premiumWait.bytes within premiumWait.ms. */
  private takePremium(accountId: bigint, bytes: number): void {
    const rule = this.config.premiumWait;
    if (!rule) return;
    const now = this.now();
    const recent = (this.saved.get(accountId) ?? []).filter((s) => s.at > now - rule.ms);
    this.saved.set(accountId, recent);
    let excess = recent.reduce((sum, s) => sum + s.bytes, 0) + bytes - rule.bytes;
    if (excess <= 0) return void recent.push({ at: now, bytes });
    let until = now;
    for (const s of recent) {
      if (excess <= 0) break;
      excess -= s.bytes;
      until = s.at + rule.ms;
    }
    fail(420, `FLOOD_PREMIUM_WAIT_${Math.max(1, Math.ceil((until - now) / 1000))}`);
  }
}
