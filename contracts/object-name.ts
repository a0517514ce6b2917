// The Storage object names this product accepts, for the Storage stand-in (scripts/storage/) and
// the worker (which builds its download URL from them). The same rules hold in SQL
// (private.object_name_problem) for every writer of storage.objects, campaigns and templates.
//
// Hosted Supabase Storage refuses an object key (InvalidKey, HTTP 400) that is empty, has a `.`
// or `..` segment, is over 1,024 UTF-8 bytes, or holds a C0/C1 control, DEL, one of
// # [ ] { } ^ ` " < > \ | % ~ or an invisible or bidi mark (U+034F, U+061C, U+200B, U+200E,
// U+200F, U+2028, U+2029, U+202A-U+202E, U+2060, U+2066-U+2069, U+FEFF): supabase/storage,
// src/storage/limits.ts, isValidKey. This product also refuses empty segments (`a//b`, a leading
// or trailing `/`) and segments over 255 bytes (a file name on most file systems, and Storage's
// file backend keeps one file per key).

export const OBJECT_NAME_MAX_BYTES = 1024;
export const OBJECT_SEGMENT_MAX_BYTES = 255;

const REFUSED =
  // deno-lint-ignore no-control-regex -- controls are what it refuses
  /[\u0000-\u001f\u007f-\u009f#[\]{}^`"<>\\|%~\u034f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/u;

const bytes = (s: string) => new TextEncoder().encode(s).length;

/** Why `name` is not an acceptable object name, or null when it is. */
export function objectNameProblem(name: string): string | null {
  if (!name) return 'is empty';
  if (bytes(name) > OBJECT_NAME_MAX_BYTES) return `is over ${OBJECT_NAME_MAX_BYTES} bytes`;
  const bad = REFUSED.exec(name);
  if (bad) return `holds a character Storage refuses (U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;
  for (const segment of name.split('/')) {
    if (!segment) return 'has an empty segment (a leading, trailing or double /)';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
    if (bytes(segment) > OBJECT_SEGMENT_MAX_BYTES) return `has a segment over ${OBJECT_SEGMENT_MAX_BYTES} bytes`;
  }
  return null;
}
