// The upload and media limits the model enforces, each with its source. Tests and the stack may
// override any of them through the model's `config.uploads`.

export interface UploadConfig {
  /** Largest part: "the size limit (512 KB) for the content of the file part" (core.telegram.org/api/files). */
  maxPartBytes: number;
  /** upload_max_fileparts_default (core.telegram.org/api/files; 4000 in core.telegram.org/api/config's example). */
  maxParts: number;
  /** "Use upload.saveBigFilePart in case the full size of the file is more than 10 MB" (core.telegram.org/api/files). */
  bigFileBytes: number;
  /**
   * How long a saved part stays: "between several minutes and several hours (depending on how busy
   * the storage area is). After this time, the file part will become unavailable" (core.telegram.org/api/files).
   */
  partTtlMs: number;
  /**
   * How long a file_reference is taken. core.telegram.org/api/file_reference says references expire
   * and gives no lifetime; ours is configurable.
   */
  fileReferenceTtlMs: number;
  /** Photos: at most 10 MB (core.telegram.org/bots/api#sendphoto; larger uploads answer PHOTO_SAVE_FILE_INVALID). */
  photoMaxBytes: number;
  /**
   * FLOOD_PREMIUM_WAIT_X: "upload speed is limited because the current account does not have a
   * Premium subscription", received only "when the user has uploaded tens of gigabytes or more"
   * (core.telegram.org/api/files). Off unless set: at most `bytes` saved per account within `ms`.
   */
  premiumWait?: { bytes: number; ms: number };
}

export const DEFAULT_UPLOAD_CONFIG: UploadConfig = {
  maxPartBytes: 512 * 1024,
  maxParts: 4000,
  bigFileBytes: 10 * 1024 * 1024,
  partTtlMs: 30 * 60_000,
  fileReferenceTtlMs: 2 * 3600_000,
  photoMaxBytes: 10 * 1024 * 1024,
};
