// Campaign files for the worker, read through Supabase Storage's API with the service role key
// (the bucket `campaign-media` is private; the service role passes its policies). Hosted: the
// project URL; locally: the stack's Storage stand-in, which answers the same URLs. Errors carry
// an errorMessage and code like Telegram's, so errors.ts classifies them: a missing file, an
// invalid path or a missing configuration is permanent, an unavailable Storage transient.
//
// The key goes to one place only: the campaign-media object route of SUPABASE_URL, in a URL
// built from the path's validated segments, each percent-encoded, and checked after parsing;
// redirects are refused. A path that names anything else (`..`, an empty segment, a control or
// bidi character: contracts/object-name.ts) fails its delivery with MEDIA_PATH_INVALID unfetched.
import { objectNameProblem } from '../../contracts/object-name.ts';
import { tooLarge } from './gateway/gramjs-gateway.ts';
import type { MediaFile, MediaKind } from './gateway/types.ts';

export const MEDIA_BUCKET = 'campaign-media';

export interface MediaSource {
  fetch(path: string, kind: MediaKind, mimeType: string): Promise<MediaFile>;
}

const fail = (errorMessage: string, code: number, message: string) => Object.assign(new Error(message), { errorMessage, code });

const unconfigured = (why: string) => fail('MEDIA_UNCONFIGURED', 400, `media campaigns need ${why} in the worker's environment`);

/** The download URL of `path` in the bucket, or a refusal: the only URL the key is sent to. */
export function mediaObjectUrl(supabaseUrl: string, path: string): URL {
  const problem = objectNameProblem(path);
  if (problem) throw fail('MEDIA_PATH_INVALID', 400, `the media path is not a valid object name: it ${problem}`);
  let base: URL;
  try {
    base = new URL(supabaseUrl);
  } catch {
    throw unconfigured('SUPABASE_URL as an http(s) URL');
  }
  if (!/^https?:$/.test(base.protocol) || base.search || base.hash || base.username || base.password) {
    throw unconfigured('SUPABASE_URL as an http(s) URL without credentials, query or fragment');
  }
  const route = `${base.pathname.replace(/\/+$/, '')}/storage/v1/object/${MEDIA_BUCKET}/`;
  const encoded = route + path.split('/').map(encodeURIComponent).join('/');
  const url = new URL(encoded, base.origin);
  // What the URL parser made of it is what was built: nothing was normalised out of the route.
  if (url.origin !== base.origin || url.pathname !== encoded) {
    throw fail('MEDIA_PATH_INVALID', 400, 'the media path does not stay in the campaign-media object route');
  }
  return url;
}

export function storageMediaSource(supabaseUrl: string | undefined, serviceRoleKey: string | undefined): MediaSource {
  return {
    async fetch(path, kind, mimeType) {
      if (!supabaseUrl || !serviceRoleKey) throw unconfigured('SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY');
      const url = mediaObjectUrl(supabaseUrl, path);
      let res: Response;
      try {
        res = await fetch(url, {
          headers: { authorization: `Bearer ${serviceRoleKey}`, apikey: serviceRoleKey },
          redirect: 'error',
        });
      } catch (err) {
        throw fail('STORAGE_UNAVAILABLE', 503, `Storage unreachable: ${(err as Error).message}`);
      }
      if (res.status === 404 || res.status === 400) {
        throw fail('MEDIA_NOT_FOUND', 400, `no file ${MEDIA_BUCKET}/${path} in Storage`);
      }
      if (!res.ok) throw fail('STORAGE_UNAVAILABLE', 503, `Storage answered ${res.status} for ${MEDIA_BUCKET}/${path}`);
      const name = path.split('/').pop() ?? 'file';
      const bytes = await readFile(res, { kind, name });
      return { kind, name, mimeType, bytes };
    },
  };
}

/**
 * The body, checked while it arrives: never more than the declared length (a short or long body
 * is a failed download, tried again) nor than Telegram takes for the kind (refused before the
 * first byte when declared, else as soon as it is passed).
 */
async function readFile(res: Response, file: Pick<MediaFile, 'kind' | 'name'>): Promise<Uint8Array> {
  const header = res.headers.get('content-length');
  const declared = header === null ? null : Number(header);
  const refused = tooLarge(file, declared ?? 0);
  if (refused) {
    await res.body?.cancel();
    throw refused;
  }
  const chunks: Uint8Array[] = [];
  let got = 0;
  try {
    for await (const chunk of res.body ?? []) {
      got += chunk.length;
      const problem = tooLarge(file, got) ??
        (declared !== null && got > declared ? mismatch(file, `more than the ${declared} bytes it declared`) : null);
      if (problem) throw problem; // leaving the loop cancels the download
      chunks.push(chunk);
    }
  } catch (err) {
    if ((err as { errorMessage?: unknown }).errorMessage) throw err;
    throw fail('STORAGE_UNAVAILABLE', 503, `the download of ${file.name} broke off: ${(err as Error).message}`);
  }
  if (declared !== null && got !== declared) throw mismatch(file, `${got} of the ${declared} bytes it declared`);
  return Buffer.concat(chunks, got);
}

const mismatch = (file: Pick<MediaFile, 'name'>, what: string) =>
  fail('MEDIA_LENGTH_MISMATCH', 502, `Storage sent ${what} for ${file.name}`);
