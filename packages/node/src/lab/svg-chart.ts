/**
 * Small SVG charts with real axes, ticks and legends (learning curves, confusion matrix), rendered to
 * PNG through sharp so every figure is a file under DIR/figures.
 */
import sharp from 'sharp';
import { toRgba } from '../io/png.ts';

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
}

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const FONT = 'font-family="DejaVu Sans, sans-serif"';

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(6)));
  return out;
}

/** A line chart: x axis (integer epochs), y axis with ticks, a legend, a title. */
export function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  opts: { width?: number; height?: number; yMin?: number; yMax?: number } = {},
): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 340;
  const m = { l: 64, r: 16, t: 36, b: 84 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  let y0 = opts.yMin ?? Math.min(...ys);
  let y1 = opts.yMax ?? Math.max(...ys);
  if (!(y1 > y0)) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  if (opts.yMin === undefined) y0 -= pad;
  if (opts.yMax === undefined) y1 += pad;
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`];
  for (const t of niceTicks(y0, y1)) {
    parts.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${py(t) + 4}" text-anchor="end" font-size="11">${t}</text>`,
    );
  }
  const xt = niceTicks(x0, x1, Math.min(10, x1 - x0)).filter((v) => Number.isInteger(v));
  for (const t of xt) {
    parts.push(
      `<line x1="${px(t)}" x2="${px(t)}" y1="${H - m.b}" y2="${H - m.b + 5}" stroke="#333"/>`,
      `<text x="${px(t)}" y="${H - m.b + 18}" text-anchor="middle" font-size="11">${t}</text>`,
    );
  }
  parts.push(
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - m.b + 36}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${px(p[0])},${py(p[1])}`).join(' ')}"/>`,
      );
    for (const p of pts) parts.push(`<circle cx="${px(p[0])}" cy="${py(p[1])}" r="3" fill="${s.color}"/>`);
    const lx = m.l + (i % 2) * 220;
    const ly = H - 22 + Math.floor(i / 2) * 0;
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 30}" y="${ly}" font-size="12">${esc(s.name)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><g ${FONT} fill="#222">${parts.join('')}</g></svg>`;
}

/** A confusion matrix: row-normalized colour (white → blue), raw counts in the cells, axis titles. */
/**
 * Rows = true classes (`names`), columns = predicted classes (`columns`, default the same; a pretrained
 * model's dataset classes plus "other"). Long names get a wider margin and slanted column labels.
 */
export function confusionChart(
  confusion: number[][],
  names: string[],
  title: string,
  subtitle = '',
  columns: string[] = names,
): string {
  const K = confusion.length;
  const C = columns.length;
  const cell = Math.max(28, Math.min(44, Math.floor(440 / Math.max(K, C))));
  const longest = (xs: string[]) => Math.max(0, ...xs.map((n) => n.length));
  const slant = longest(columns) * 6.5 > cell;
  const left = Math.max(84, Math.ceil(longest(names) * 6.5) + 30);
  const top = slant ? Math.max(84, Math.ceil(longest(columns) * 4.8) + 56) : 84;
  const m = { l: left, t: top, r: slant ? 60 : 20, b: 40 };
  const W = Math.max(m.l + C * cell + m.r, 460);
  const H = m.t + K * cell + m.b;
  const parts: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`];
  parts.push(
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${W / 2}" y="38" text-anchor="middle" font-size="11">${esc(subtitle)}</text>`,
    `<text x="${m.l + (C * cell) / 2}" y="${slant ? 56 : m.t - 30}" text-anchor="middle" font-size="12">predicted class</text>`,
    `<text transform="translate(18 ${m.t + (K * cell) / 2}) rotate(-90)" text-anchor="middle" font-size="12">true class</text>`,
  );
  for (let c = 0; c < C; c++) {
    const x = m.l + c * cell + cell / 2;
    parts.push(
      slant
        ? `<text transform="translate(${x} ${m.t - 8}) rotate(-40)" font-size="11">${esc(columns[c])}</text>`
        : `<text x="${x}" y="${m.t - 8}" text-anchor="middle" font-size="11">${esc(columns[c])}</text>`,
    );
  }
  for (let r = 0; r < K; r++) {
    const total = confusion[r].reduce((a, b) => a + b, 0) || 1;
    parts.push(
      `<text x="${m.l - 8}" y="${m.t + r * cell + cell / 2 + 4}" text-anchor="end" font-size="11">${esc(names[r])}</text>`,
    );
    for (let c = 0; c < C; c++) {
      const v = confusion[r][c];
      const t = v / total;
      const shade = (base: number) => Math.round(255 - t * (255 - base));
      const fill = `rgb(${shade(8)},${shade(48)},${shade(107)})`;
      parts.push(
        `<rect x="${m.l + c * cell}" y="${m.t + r * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ccc"/>`,
        `<text x="${m.l + c * cell + cell / 2}" y="${m.t + r * cell + cell / 2 + 4}" text-anchor="middle" font-size="10" fill="${t > 0.5 ? 'white' : '#222'}">${v}</text>`,
      );
    }
  }
  parts.push(
    `<text x="${Math.min(m.l, 16)}" y="${H - 12}" font-size="11">colour: share of the true class's row (white 0 → dark blue 1); numbers: counts</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><g ${FONT} fill="#222">${parts.join('')}</g></svg>`;
}

/** Rasterizes an SVG string to RGBA (for writePng), `scale` times its own size (crisp text). */
export async function svgToImage(svg: string, scale = 1) {
  return toRgba(sharp(Buffer.from(svg), scale === 1 ? {} : { density: 72 * scale }));
}
