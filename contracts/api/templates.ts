// Message templates with {{name}} placeholders, rendered by the database (public.render_template).
import { z } from 'zod';
import { idSchema, pageQuerySchema, pageSchema, parseModeSchema, patchSchema, text, timestampSchema } from './common.ts';

export const MESSAGE_MAX = 4096; // Telegram's limit for a text message

export const messageTextSchema = text(1, MESSAGE_MAX);

const templateFields = {
  name: text(1, 200),
  text: messageTextSchema,
  parseMode: parseModeSchema,
  silent: z.boolean(),
  linkPreview: z.boolean(),
};

export const createTemplateSchema = z.strictObject({
  ...templateFields,
  silent: templateFields.silent.optional(),
  linkPreview: templateFields.linkPreview.optional(),
});
export const updateTemplateSchema = patchSchema(templateFields);

/** Values for {{name}} placeholders. */
export const variablesSchema = z.record(
  text(1, 100),
  z.union([z.string().max(MESSAGE_MAX).refine((s) => !s.includes('\u0000'), { error: 'must not contain NUL characters' }), z.number(), z.boolean()]),
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
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

export const templateListQuerySchema = pageQuerySchema;
export const templatePageSchema = pageSchema(templateSchema);

export type Template = z.infer<typeof templateSchema>;
export type CreateTemplate = z.input<typeof createTemplateSchema>;
export type TemplatePreview = z.infer<typeof templatePreviewSchema>;
