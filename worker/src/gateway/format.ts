// Message text to Telegram entities with GramJS's own HTML parser. Two GramJS pitfalls are
// avoided on purpose:
// - client.sendMessage/_parseMessageText drops every text URL containing "+" (its mention regex
//   is unanchored), which would silently unlink t.me/+invite links; we call the parser directly.
// - GramJS's "md" parser has no links; markdown is therefore translated to HTML (escaped first)
//   and parsed by the same HTML parser: **bold**, __italic__, ~~strike~~, `code`, ```pre```,
//   [text](url).
import type { Api } from 'telegram';
import { HTMLParser } from 'telegram/extensions/html.js';
import type { ParseMode } from './types.ts';

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const escapeAttr = (s: string) => escapeHtml(s).replace(/"/g, '&quot;');

export function markdownToHtml(md: string): string {
  // Code first, so its content is not read as markup.
  const code: string[] = [];
  const hold = (html: string) => `\u0000${code.push(html) - 1}\u0000`;
  let s = md
    .replace(/```(?:[a-z0-9_+-]*\n)?([\s\S]*?)```/g, (_, c: string) => hold(`<pre>${escapeHtml(c)}</pre>`))
    .replace(/`([^`\n]+)`/g, (_, c: string) => hold(`<code>${escapeHtml(c)}</code>`));
  s = escapeHtml(s)
    .replace(
      /\[([^\]\n]+)\]\(([^)\s]+)\)/g,
      (_, t: string, u: string) => `<a href="${escapeAttr(u.replace(/&amp;/g, '&'))}">${t}</a>`,
    )
    .replace(/\*\*([\s\S]+?)\*\*/g, '<b>$1</b>')
    .replace(/__([\s\S]+?)__/g, '<i>$1</i>')
    .replace(/~~([\s\S]+?)~~/g, '<s>$1</s>');
  // deno-lint-ignore no-control-regex -- NUL marks the placeholders this module inserted itself
  return s.replace(/\u0000(\d+)\u0000/g, (_, i: string) => code[Number(i)]!);
}

// A campaign sends one text many times: parse it once (entities are not mutated by sending).
const cache = new Map<string, { message: string; entities: Api.TypeMessageEntity[] }>();

export function formatMessage(text: string, mode: ParseMode): { message: string; entities: Api.TypeMessageEntity[] } {
  if (mode === 'plain') return { message: text, entities: [] };
  const key = `${mode}\u0000${text}`;
  let hit = cache.get(key);
  if (!hit) {
    const [message, entities] = HTMLParser.parse(mode === 'html' ? text : markdownToHtml(text));
    hit = { message, entities };
    if (cache.size >= 64) cache.delete(cache.keys().next().value!);
    cache.set(key, hit);
  }
  return hit;
}
