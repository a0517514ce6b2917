// Campaign files for the worker, read through Supabase Storage's API with the service role key
// (the bucket `campaign-media` is private; the service role passes its policies). Hosted: the
// project URL; locally: the stack's Storage stand-in, which answers the same URLs. Errors carry
// an errorMessage and code like Telegram's, so errors.ts classifies them: a missing file or a
// missing configuration is permanent, an unavailable Storage transient.
import { tooLarge } from './gateway/gramjs-gateway.ts';
import type { MediaFile, MediaKind } from './gateway/types.ts';

export const MEDIA_BUCKET = 'campaign-media';

export interface MediaSource {
  fetch(path: string, kind: MediaKind, mimeType: string): Promise<MediaFile>;
}

const fail = (errorMessage: string, code: number, message: string) => Object.assign(new Error(message), { errorMessage, code });

export function storageMediaSource(supabaseUrl: string | undefined, serviceRoleKey: string | undefined): MediaSource {
  return {
    async fetch(path, kind, mimeType) {
      if (!supabaseUrl || !serviceRoleKey) {
        throw fail(
          'MEDIA_UNCONFIGURED',
          400,
          "media campaigns need SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY in the worker's environment",
        );
      }
      const url = `${supabaseUrl.replace(/\/+$/, '')}/storage/v1/object/${MEDIA_BUCKET}/${
        path.split('/').map(encodeURIComponent).join('/')
      }`;
      let res: Response;
      try {
        res = await fetch(url, { headers: { authorization: `Bearer ${serviceRoleKey}`, apikey: serviceRoleKey } });
      } catch (err) {
        throw fail('STORAGE_UNAVAILABLE', 503, `Storage unreachable: ${(err as Error).message}`);
      }
      if (res.status === 404 || res.status === 400) {
        throw fail('MEDIA_NOT_FOUND', 400, `no file ${MEDIA_BUCKET}/${path} in Storage`);
      }
      if (!res.ok) throw fail('STORAGE_UNAVAILABLE', 503, `Storage answered ${res.status} for ${MEDIA_BUCKET}/${path}`);
      const name = path.split('/').pop() ?? 'file';
      // Checked before the body is read: an oversized file is refused without downloading it.
      const refused = tooLarge({ kind, name }, Number(res.headers.get('content-length') ?? 0));
      if (refused) {
        await res.body?.cancel();
        throw refused;
      }
      return { kind, name, mimeType, bytes: new Uint8Array(await res.arrayBuffer()) };
    },
  };
}
