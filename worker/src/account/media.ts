// The files one account sends: each media campaign's file is fetched from Storage and uploaded to
// Telegram once (messages.uploadMedia), and every send of the campaign refers to that upload, as
// does every edit that gives its posts the file (a file an edit replaced is another upload). A
// reference Telegram stops taking (FILE_REFERENCE_EXPIRED, or one kept from before a restart that
// Telegram does not know) is replaced by one new upload, whichever send noticed first. A new
// reference rides on the campaign's next outcome into the database (worker_media_refs), so a
// restarted worker reuses it from worker_take instead of uploading again.
import type { ClaimRow } from '../db.ts';
import { classify, withTimeout } from '../errors.ts';
import type { MediaRef, TelegramGateway } from '../gateway/types.ts';
import type { MediaSource } from '../media.ts';

/** What names a campaign's file: a send's claimed row or an edit's. */
export type CampaignFile = Pick<ClaimRow, 'campaign_id' | 'media_path' | 'media_kind' | 'media_mime' | 'media_ref'>;

/** The upload's key: the campaign and its file (an edit that replaces the file changes the path). */
const keyOf = (row: CampaignFile) => `${row.campaign_id}\u0000${row.media_path}`;

interface Upload {
  promise: Promise<MediaRef>;
  ref?: MediaRef;
}

export class AccountMedia {
  readonly #source: MediaSource;
  readonly #gateway: () => TelegramGateway;
  readonly #timeoutMs: number;
  readonly #uploads = new Map<string, Upload>();
  readonly #unstored = new Map<string, MediaRef>();

  /** timeoutMs bounds fetching and uploading one file, which takes longer than one send. */
  constructor(source: MediaSource, gateway: () => TelegramGateway, timeoutMs: number) {
    this.#source = source;
    this.#gateway = gateway;
    this.#timeoutMs = timeoutMs;
  }

  /** The upload to send `row` with; undefined for a text message. */
  ref(row: CampaignFile): Promise<MediaRef> | undefined {
    if (!row.media_path) return undefined;
    const cur = this.#uploads.get(keyOf(row));
    if (cur) return cur.promise;
    return this.#start(row, row.media_ref ?? undefined);
  }

  /** Telegram refused `stale`: the campaign's next send uploads again (unless one already did). */
  refresh(row: CampaignFile, stale: MediaRef): Promise<MediaRef> {
    const cur = this.#uploads.get(keyOf(row));
    if (cur && cur.ref !== stale) return cur.promise;
    return this.#start(row);
  }

  /** A reference of the row's file uploaded since the last call, to store with an outcome (with the file's path). */
  takeUnstored(row: CampaignFile): { mediaRef: MediaRef; mediaPath: string } | undefined {
    const ref = this.#unstored.get(keyOf(row));
    this.#unstored.delete(keyOf(row));
    return ref && { mediaRef: ref, mediaPath: row.media_path! };
  }

  forget(campaignId: string): void {
    for (const map of [this.#uploads, this.#unstored]) {
      for (const key of map.keys()) if (key.startsWith(`${campaignId}\u0000`)) map.delete(key);
    }
  }

  #start(row: CampaignFile, known?: MediaRef): Promise<MediaRef> {
    const key = keyOf(row);
    const entry: Upload = { promise: known ? Promise.resolve(known) : this.#upload(row), ref: known };
    this.#uploads.set(key, entry);
    entry.promise.then((ref) => {
      entry.ref = ref;
    }, (err: unknown) => {
      // A failed fetch or upload is the sends' failure; the next send tries again, after
      // FLOOD_PREMIUM_WAIT_X only once its X seconds have passed (until then sends get the same answer).
      const drop = () => {
        if (this.#uploads.get(key) === entry) this.#uploads.delete(key);
      };
      const c = classify(err);
      if (c.kind === 'upload_wait') setTimeout(drop, c.seconds * 1000).unref();
      else drop();
    });
    return entry.promise;
  }

  async #upload(row: CampaignFile): Promise<MediaRef> {
    const work = async () => {
      const file = await this.#source.fetch(row.media_path!, row.media_kind!, row.media_mime ?? 'application/octet-stream');
      return this.#gateway().uploadMedia(file);
    };
    const ref = await withTimeout(work(), this.#timeoutMs, 'media upload');
    this.#unstored.set(keyOf(row), ref);
    return ref;
  }
}
