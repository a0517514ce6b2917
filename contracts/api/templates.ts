// Message templates with {{name}} placeholders, rendered by the database (public.render_template).
import { z } from 'zod';
import { idSchema, pageQuerySchema, pageSchema, parseModeSchema, patchSchema, text, timestampSchema } from './common.ts';

// Telegram's limits, in UTF-16 code units: Telegram measures text that way (entity offsets and
// lengths are "the number of UTF-16 code units", https://core.telegram.org/api/entities#entity-length),
// as does JavaScript's String.length; zod's max() counts code points, so an emoji (2 units) would
// count 1. The database counts the same way (private.utf16_length).
export const MESSAGE_MAX = 4096; // a text message
export const CAPTION_MAX = 1024; // the caption of a photo, video or document

const utf16Max = <S extends z.ZodType<string>>(schema: S, max: number) =>
  schema.refine((s) => s.length <= max, { error: `must have at most ${max} characters (UTF-16 code units)` });

export const messageTextSchema = utf16Max(text(1, MESSAGE_MAX), MESSAGE_MAX);

/**
 * A file in the private Storage bucket `campaign-media`, uploaded by the user under
 * `<their user id>/`; the database checks it exists, is theirs and fits the kind.
 */
export const mediaSchema = z.strictObject({
  /** The object's path in the bucket, e.g. "<user id>/launch.jpg". */
  path: text(1, 1024),
  /** photo: JPEG, PNG or WebP up to 10 MB; video: video/* up to 50 MB; document: any file up to 50 MB. */
  kind: z.enum(['photo', 'video', 'document']),
});

/** With media, the text is its caption: at most CAPTION_MAX characters. */
export const captionFits = (o: { text?: string; media?: unknown }, ctx: z.RefinementCtx) => {
  if (o.media && o.text !== undefined && o.text.length > CAPTION_MAX) {
    ctx.addIssue({ code: 'custom', path: ['text'], message: `a caption has at most ${CAPTION_MAX} characters` });
  }
};

const templateFields = {
  name: text(1, 200),
  text: messageTextSchema,
  parseMode: parseModeSchema,
  silent: z.boolean(),
  linkPreview: z.boolean(),
  /** A photo, video or document sent with the text as its caption; null: none (PATCH clears it). */
  media: mediaSchema.nullable(),
};

export const createTemplateSchema = z.strictObject({
  ...templateFields,
  silent: templateFields.silent.optional(),
  linkPreview: templateFields.linkPreview.optional(),
  media: templateFields.media.optional(),
}).superRefine(captionFits);
export const updateTemplateSchema = patchSchema(templateFields);

/** Values for {{name}} placeholders. */
export const variablesSchema = z.record(
  text(1, 100),
  z.union([
    utf16Max(z.string().max(MESSAGE_MAX), MESSAGE_MAX).refine((s) => !s.includes('\u0000'), {
      error: 'must not contain NUL characters',
    }),
    z.number(),
    z.boolean(),
  ]),
);

export const previewTemplateSchema = z.strictObject({ variables: variablesSchema.optional() });
export const templatePreviewSchema = z.object({
  text: z.string(),
  /** Placeholders left without a value. */
  missing: z.array(z.string()),
});

export const templateSchema = z.object({
  id: idSchema,
  ...templateFields,
  name: z.string(),
  text: z.string(),
  media: mediaSchema.nullable(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const templateListQuerySchema = pageQuerySchema;
export const templatePageSchema = pageSchema(templateSchema);

export type Template = z.infer<typeof templateSchema>;
export type CreateTemplate = z.input<typeof createTemplateSchema>;
export type TemplatePreview = z.infer<typeof templatePreviewSchema>;
