/** TCAV's bar chart: per concept the mean score over random counterparts (± std, dots for each), beside the random concept's. */
import type { RGBAImage } from '@convlens/core/render/image';
import sharp from 'sharp';
import { toRgba } from '../io/png.ts';
import type { TcavResult } from '../tasks/concepts-tcav.ts';

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function tcavChart(r: TcavResult): Promise<RGBAImage> {
  const bars = [
    ...r.concepts.map((c) => ({
      name: c.name,
      mean: c.mean,
      std: c.std,
      scores: c.scores,
      significant: c.significant,
      p: c.p as number | null,
    })),
    {
      name: 'random',
      mean: r.random.mean,
      std: r.random.std,
      scores: r.random.scores,
      significant: false,
      p: null,
    },
  ];
  const bw = 56;
  const gap = 28;
  const left = 48;
  const top = 44;
  const plotH = 220;

  const height = top + plotH + 64;
  const note = `* significant at ${r.alpha} (Bonferroni over ${r.concepts.length} concept${r.concepts.length > 1 ? 's' : ''}); dots: one per random counterpart`;
  const width = Math.max(360, left + bars.length * (bw + gap) + 20, Math.ceil(note.length * 6.2) + 20);
  const y = (v: number) => top + plotH * (1 - v);
  const parts: string[] = [];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${t}</text>`);
  }
  bars.forEach((b, i) => {
    const x = left + gap / 2 + i * (bw + gap);
    const fill = b.name === 'random' ? '#bbb' : b.significant ? '#2a7ab9' : '#9ec5e3';
    parts.push(`<rect x="${x}" y="${y(b.mean)}" width="${bw}" height="${plotH * b.mean}" fill="${fill}"/>`);
    const cx = x + bw / 2;
    parts.push(
      `<line x1="${cx}" x2="${cx}" y1="${y(Math.min(1, b.mean + b.std))}" y2="${y(Math.max(0, b.mean - b.std))}" stroke="#222" stroke-width="1.5"/>`,
    );
    for (const [k, s] of b.scores.entries())
      parts.push(
        `<circle cx="${x + 6 + ((bw - 12) * (k + 0.5)) / b.scores.length}" cy="${y(s)}" r="2.2" fill="#222"/>`,
      );
    parts.push(
      `<text x="${cx}" y="${top + plotH + 16}" text-anchor="middle" font-size="12">${esc(b.name.slice(0, 14))}</text>`,
    );
    if (b.p !== null)
      parts.push(
        `<text x="${cx}" y="${top + plotH + 31}" text-anchor="middle" font-size="10">p=${b.p.toPrecision(2)}${b.significant ? ' *' : ''}</text>`,
      );
  });
  const title = `TCAV: class ${r.className.split(',')[0]} at ${r.layer}`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/><g font-family="DejaVu Sans, sans-serif" fill="#222"><text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>${parts.join('')}<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#222"/><text x="10" y="${height - 8}" font-size="10">${esc(note)}</text></g></svg>`;
  return toRgba(sharp(Buffer.from(svg)));
}
