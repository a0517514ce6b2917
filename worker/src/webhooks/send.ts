// One HTTP attempt: POST the body to the checked address, no redirects followed, bounded by a
// timeout, and only a short prefix of the answer kept.
import http from 'node:http';
import https from 'node:https';
import { pinnedLookup, RefusedAddress, resolveTarget } from '../public-address.ts';

export const RESPONSE_PREFIX_BYTES = 256;

export interface Attempt {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
}
export interface AttemptResult {
  status: number | null;
  error: string | null;
  responsePrefix: string | null;
  durationMs: number;
}

export async function sendAttempt(a: Attempt): Promise<AttemptResult> {
  const started = performance.now();
  const done = (r: Omit<AttemptResult, 'durationMs'>): AttemptResult => ({
    ...r,
    durationMs: Math.round(performance.now() - started),
  });
  const url = new URL(a.url);
  const signal = AbortSignal.timeout(a.timeoutMs);
  try {
    const target = await Promise.race([resolveTarget(url.hostname, a.allowPrivate), abortion(signal)]);
    const { status, prefix } = await post(url, target, a, signal);
    return done({ status, error: status >= 200 && status < 300 ? null : `HTTP ${status}`, responsePrefix: prefix });
  } catch (err) {
    const error = err instanceof RefusedAddress
      ? `refused: ${err.message}`
      : signal.aborted
      ? `timeout after ${a.timeoutMs} ms`
      : `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
    return done({ status: null, error, responsePrefix: null });
  }
}

/** The resolver is bounded by the attempt's timeout too. */
const abortion = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

function post(
  url: URL,
  target: { address: string; family: number },
  a: Attempt,
  signal: AbortSignal,
): Promise<{ status: number; prefix: string }> {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, {
      method: 'POST',
      headers: { ...a.headers, 'content-length': Buffer.byteLength(a.body) },
      lookup: pinnedLookup(target),
      signal,
      agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < RESPONSE_PREFIX_BYTES) chunks.push(c);
        size += c.length;
        if (size >= RESPONSE_PREFIX_BYTES) res.destroy(); // the rest is not read
      });
      const finish = () =>
        resolve({
          status: res.statusCode ?? 0,
          prefix: Buffer.concat(chunks).subarray(0, RESPONSE_PREFIX_BYTES).toString('utf8').replaceAll('\u0000', ''),
        });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', () => finish());
    });
    req.on('error', reject);
    req.end(a.body);
  });
}
