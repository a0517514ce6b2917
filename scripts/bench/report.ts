// Output for people and machines: an aligned text table, a hand-written SVG line chart, and
// the results files under .local/. No charting dependency: the SVG is a few dozen elements.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/migrate.ts';

export const RESULTS_ROOT = join(REPO_ROOT, '.local');

export interface Row {
  metric: string;
  value: string;
  target?: string;
  ok?: boolean;
}

export function table(rows: readonly Row[], head: readonly [string, string, string] = ['metric', 'value', 'target']): string {
  const cells = rows.map((r) => [r.metric, r.value, r.target ?? '', r.ok === undefined ? '' : r.ok ? 'ok' : 'MISS']);
  const widths = [...head, ''].map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line([...head, '']), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}
export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A "nice" axis maximum (1, 2 or 5 × 10^k) at or above v. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const k = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * k >= v) ?? 10) * k;
}

/** Panels stacked vertically, each a line chart with its own axes and legend. */
export function svgChart(panels: readonly Panel[], width = 800, panelHeight = 260): string {
  const m = { l: 60, r: 20, t: 30, b: 40 };
  const out: string[] = [];
  const height = panels.length * panelHeight;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  panels.forEach((p, i) => {
    const y0 = i * panelHeight;
    const w = width - m.l - m.r;
    const h = panelHeight - m.t - m.b;
    const all = p.series.flatMap((s) => s.points);
    const xMax = niceMax(Math.max(0, ...all.map((q) => q[0])));
    const yMax = niceMax(Math.max(0, ...all.map((q) => q[1])));
    const X = (x: number) => m.l + (x / xMax) * w;
    const Y = (y: number) => y0 + m.t + h - (y / yMax) * h;
    out.push(`<text x="${m.l}" y="${y0 + 18}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    for (let t = 0; t <= 5; t++) {
      const yv = (yMax * t) / 5;
      const xv = (xMax * t) / 5;
      out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${Y(yv)}" y2="${Y(yv)}" stroke="#eee"/>`);
      out.push(`<text x="${m.l - 6}" y="${Y(yv) + 4}" text-anchor="end">${+yv.toPrecision(3)}</text>`);
      out.push(`<text x="${X(xv)}" y="${y0 + m.t + h + 16}" text-anchor="middle">${+xv.toPrecision(3)}</text>`);
    }
    out.push(`<rect x="${m.l}" y="${y0 + m.t}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
    out.push(`<text x="${m.l + w / 2}" y="${y0 + panelHeight - 6}" text-anchor="middle">${esc(p.xLabel)}</text>`);
    out.push(`<text transform="translate(14 ${y0 + m.t + h / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
    p.series.forEach((s, k) => {
      const color = COLORS[k % COLORS.length];
      const pts = s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>`);
      out.push(`<text x="${m.l + w - 4}" y="${y0 + m.t + 14 + 14 * k}" text-anchor="end" fill="${color}">${esc(s.name)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes `<name>.json` (and any extra files) into .local/<dir>/, returning the paths. */
export async function writeResults(dir: string, files: Record<string, string>): Promise<string[]> {
  const base = join(RESULTS_ROOT, dir);
  await mkdir(base, { recursive: true });
  const paths: string[] = [];
  for (const [name, body] of Object.entries(files)) {
    const p = join(base, name);
    await writeFile(p, body);
    paths.push(p);
  }
  return paths;
}
