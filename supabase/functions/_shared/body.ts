// Request bodies: at most 1 MB, JSON only. Oversized bodies are drained (up to a bound) before the
// 413 so the client reads our answer instead of a connection reset.
import { ApiError } from './errors.ts';

export const MAX_BODY_BYTES = 1024 * 1024;
const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;

const tooLarge = (limit: number) =>
  new ApiError(413, 'payload_too_large', `request body is larger than ${limit / 1024 / 1024} MB`);

/** Reads the raw body; throws 413 past the limit. Empty body: an empty array. */
export async function readBodyBytes(req: Request, limit = MAX_BODY_BYTES): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array();
  // A declared size over the limit is refused without reading (and buffering) the body.
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await req.body.cancel().catch(() => {});
    throw tooLarge(limit);
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_DRAIN_BYTES) {
      await reader.cancel().catch(() => {});
      break;
    }
    if (size <= limit) chunks.push(value);
  }
  if (size > limit) throw tooLarge(limit);
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export function parseJson(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw new ApiError(400, 'bad_request', 'request body is missing: send JSON');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, 'bad_request', 'request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'bad_request', `request body is not valid JSON: ${(err as Error).message}`);
  }
}
