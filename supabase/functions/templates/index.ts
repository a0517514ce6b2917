// Function `templates`: message templates with {{name}} placeholders. Routes: contracts/api/routes.ts; errors: docs/architecture.md §2.
import type { Template } from '../../../contracts/api/templates.ts';
import { defineFunction, serveIfMain } from '../_shared/app.ts';
import { deleteOne, findOne, insertOne, isoNN, listPage, type OwnedResource, updateOne } from '../_shared/crud.ts';
import { notFound } from '../_shared/errors.ts';

export const templateResource: OwnedResource<Template> = {
  table: 'templates',
  noun: 'template',
  select: 't.id, t.name, t.text, t.parse_mode, t.silent, t.link_preview, t.media_path, t.media_kind, t.created_at, t.updated_at',
  columns: {
    name: 'name',
    text: 'text',
    parseMode: 'parse_mode',
    silent: 'silent',
    linkPreview: 'link_preview',
    mediaPath: 'media_path',
    mediaKind: 'media_kind',
  },
  toDto: (r) => ({
    id: r.id,
    name: r.name,
    text: r.text,
    parseMode: r.parse_mode,
    silent: r.silent,
    linkPreview: r.link_preview,
    media: r.media_path === null ? null : { path: r.media_path, kind: r.media_kind },
    createdAt: isoNN(r.created_at),
    updatedAt: isoNN(r.updated_at),
  }),
};

/** `media` is two columns: null clears both, absent leaves them (the database checks the file). */
function withMediaColumns<B extends { media?: { path: string; kind: string } | null }>(body: B): Record<string, unknown> {
  if (body.media === undefined) return body;
  return { ...body, mediaPath: body.media?.path ?? null, mediaKind: body.media?.kind ?? null };
}

const templates = defineFunction('templates', {
  listTemplates: ({ tx, query }) => listPage(tx, templateResource, query),
  createTemplate: ({ tx, body }) => insertOne(tx, templateResource, withMediaColumns(body)),
  getTemplate: ({ tx, params }) => findOne(tx, templateResource, params.id),
  updateTemplate: ({ tx, params, body }) => updateOne(tx, templateResource, params.id, withMediaColumns(body)),
  deleteTemplate: ({ tx, params }) => deleteOne(tx, templateResource, params.id),
  previewTemplate: async ({ tx, params, body }) => {
    // Rendering is the database's (the same function create_campaign uses), so preview = campaign text.
    const [row] = await tx`
      select r.text, r.missing
      from public.templates t, public.render_template(t.text, ${tx.json(body.variables ?? {})}::jsonb, t.parse_mode) r
      where t.id = ${params.id}`;
    if (!row) throw notFound('template');
    return { text: row.text, missing: row.missing };
  },
});

export default templates;
serveIfMain(import.meta.main, templates);
