// Photos and documents as TL objects: id, access_hash and a file_reference given out now
// (core.telegram.org/api/file_reference: a reference comes with the object that carries it).
import { Api } from 'telegram';
import { returnBigInt } from 'telegram/Helpers.js';
import type { StoredFile } from '../model/media.ts';

const big = (x: bigint | number) => returnBigInt(x.toString());

export function fileView(f: StoredFile): Api.Photo | Api.Document {
  const common = { id: big(f.id), accessHash: big(f.accessHash), fileReference: f.reference(), date: f.date, dcId: f.dcId };
  if (f.kind === 'photo') {
    return new Api.Photo({ ...common, sizes: [new Api.PhotoSize({ type: 'y', w: 1280, h: 1280, size: f.size })] });
  }
  return new Api.Document({
    ...common,
    mimeType: f.mimeType,
    size: big(f.size),
    attributes: [new Api.DocumentAttributeFilename({ fileName: f.name })],
  });
}

export function mediaView(f: StoredFile): Api.MessageMediaPhoto | Api.MessageMediaDocument {
  const item = fileView(f);
  return item instanceof Api.Photo
    ? new Api.MessageMediaPhoto({ photo: item })
    : new Api.MessageMediaDocument({ document: item });
}
