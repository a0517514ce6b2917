// Uploads and media (core.telegram.org/api/files): upload.saveFilePart / saveBigFilePart,
// messages.uploadMedia and messages.sendMedia. The model decides; these turn TL into its inputs
// and its answers into TL.
import { Api } from 'telegram';
import { badRequest } from '../../model/errors.ts';
import type { InputFileRef } from '../../model/file-parts.ts';
import type { MediaInput } from '../../model/media.ts';
import type { Account } from '../../model/state.ts';
import { mediaView } from '../media-views.ts';
import { channelUpdates, messageView, native } from '../views.ts';
import { inputPeerChannel } from './inputs.ts';
import { boxMessageView, boxUpdates } from './targets.ts';
import { savedMessagesOf, sendMediaToSaved } from '../../model/saved-messages.ts';
import { type MethodContext, type Methods, tlBool } from './registry.ts';

function inputFile(f: Api.TypeInputFile): InputFileRef {
  if (f instanceof Api.InputFile) return { id: native(f.id), parts: f.parts, big: false, name: f.name, md5: f.md5Checksum };
  if (f instanceof Api.InputFileBig) return { id: native(f.id), parts: f.parts, big: true, name: f.name, md5: '' };
  return badRequest('MEDIA_INVALID');
}

const fileName = (attributes: Api.TypeDocumentAttribute[]) =>
  attributes.find((a): a is Api.DocumentAttributeFilename => a instanceof Api.DocumentAttributeFilename)?.fileName;

/** The InputMedia kinds the stand-in models: uploaded photos and documents, and existing ones by reference. */
export function mediaInput(m: Api.TypeInputMedia): MediaInput {
  if (m instanceof Api.InputMediaUploadedPhoto) {
    return { kind: 'uploaded', as: 'photo', file: inputFile(m.file), mimeType: 'image/jpeg' };
  }
  if (m instanceof Api.InputMediaUploadedDocument) {
    return { kind: 'uploaded', as: 'document', file: inputFile(m.file), mimeType: m.mimeType, name: fileName(m.attributes) };
  }
  const ref = m instanceof Api.InputMediaPhoto || m instanceof Api.InputMediaDocument ? m.id : undefined;
  if (ref instanceof Api.InputPhoto || ref instanceof Api.InputDocument) {
    const as = ref instanceof Api.InputPhoto ? 'photo' : 'document';
    return { kind: 'existing', as, id: native(ref.id), accessHash: native(ref.accessHash), fileReference: ref.fileReference };
  }
  // inputPhotoEmpty / inputDocumentEmpty: "the provided media object is invalid" (method/messages.sendMedia).
  return badRequest(ref ? 'MEDIA_EMPTY' : 'MEDIA_INVALID');
}

/** messages.uploadMedia's peer: the caller itself, or a chat it can see. */
function checkUploadPeer(ctx: MethodContext, me: Account, peer: unknown): void {
  if (peer instanceof Api.InputPeerSelf || peer instanceof Api.InputPeerEmpty) return;
  inputPeerChannel(ctx, me, peer);
}

/** messages.sendMedia to Saved Messages (model/saved-messages.ts), answered as a private chat's send. */
async function sendToSaved(ctx: MethodContext, me: Account, req: Api.messages.SendMedia, randomId: Api.long) {
  const { entry } = await sendMediaToSaved(ctx.model, me, req.message, native(randomId), mediaInput(req.media), ctx.dcId);
  return boxUpdates(ctx, me, savedMessagesOf(me), [
    new Api.UpdateMessageID({ id: entry.id, randomId }),
    new Api.UpdateNewMessage({ message: boxMessageView(me, entry), pts: ctx.model.targets.boxes.box(me.id).pts, ptsCount: 1 }),
  ]);
}

export function mediaMethods(m: Methods): Methods {
  return m
    .on(Api.upload.SaveFilePart, async (ctx, req) => {
      await ctx.model.media.parts.save(ctx.account().id, native(req.fileId), req.filePart, req.bytes);
      return tlBool(true);
    })
    .on(Api.upload.SaveBigFilePart, async (ctx, req) => {
      const me = ctx.account();
      await ctx.model.media.parts.save(me.id, native(req.fileId), req.filePart, req.bytes, req.fileTotalParts);
      return tlBool(true);
    })
    .on(Api.messages.UploadMedia, async (ctx, req) => {
      const me = ctx.account();
      checkUploadPeer(ctx, me, req.peer);
      return mediaView(await ctx.model.media.upload(me, mediaInput(req.media), ctx.dcId));
    })
    .on(Api.messages.SendMedia, async (ctx, req) => {
      const me = ctx.account();
      const randomId = req.randomId ?? badRequest('RANDOM_ID_INVALID');
      if (req.peer instanceof Api.InputPeerSelf) return sendToSaved(ctx, me, req, randomId);
      const ch = inputPeerChannel(ctx, me, req.peer);
      const { message } = await ctx.model.sendMessage(me, ch, req.message, native(randomId), mediaInput(req.media), ctx.dcId);
      // As for sendMessage: the random_id paired with the new message, then the message (core.telegram.org/api/updates).
      return channelUpdates(ctx.model, me, ch, [
        new Api.UpdateMessageID({ id: message.id, randomId }),
        new Api.UpdateNewChannelMessage({ message: messageView(me, ch, message), pts: ch.pts, ptsCount: 1 }),
      ]);
    });
}
