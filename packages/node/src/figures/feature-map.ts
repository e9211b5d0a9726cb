/**
 * Figures of a feature-space map: the scatter plot coloured by class (SVG, drawn to PNG by sharp), the
 * thumbnail map (images placed at their 2-D positions, snapped to a grid so none hides another), and
 * rows of nearest neighbours.
 */
import { categoricalColor } from '@convlens/core/render/colormap';
import { blit, createImage, grid, type RGBAImage } from '@convlens/core/render/image';
import sharp from 'sharp';
import { labelledPanel } from '../io/png.ts';

const esc = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

const hex = (c: [number, number, number]) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
/** Class colour (Tableau 10, darkened past 10); unlabelled points are grey. */
export const classHex = (label: number) => (label < 0 ? '#9a9a9a' : hex(categoricalColor(label)));

export interface ScatterOptions {
  /** Row-major N×2. */
  coords: ArrayLike<number>;
  labels: ArrayLike<number>;
  classNames: string[];
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Classes named in the legend at most (default 20; the rest summed up in one line). */
  legendMax?: number;
}

/** Bounds of the 2-D points with a 4% margin. */
export function bounds(coords: ArrayLike<number>): { x0: number; x1: number; y0: number; y1: number } {
  let x0 = Number.POSITIVE_INFINITY;
  let x1 = Number.NEGATIVE_INFINITY;
  let y0 = x0;
  let y1 = x1;
  for (let i = 0; i < coords.length; i += 2) {
    x0 = Math.min(x0, coords[i]);
    x1 = Math.max(x1, coords[i]);
    y0 = Math.min(y0, coords[i + 1]);
    y1 = Math.max(y1, coords[i + 1]);
  }
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  const mx = (x1 - x0) * 0.04;
  const my = (y1 - y0) * 0.04;
  return { x0: x0 - mx, x1: x1 + mx, y0: y0 - my, y1: y1 + my };
}

/** Up to ~5 round tick values covering [a, b]. */
function ticks(a: number, b: number): number[] {
  const step0 = (b - a) / 5;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(a / step) * step; v <= b; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

export function scatterSvg(o: ScatterOptions): string {
  const W = o.width ?? 680;
  const H = o.height ?? 520;
  const n = o.coords.length / 2;
  const present = [...new Set(Array.from(o.labels))].sort((a, b) => a - b);
  const legendMax = o.legendMax ?? 20;
  const legendW = W < 500 ? 120 : 150;
  const m = { l: 56, r: legendW + 16, t: o.subtitle ? 50 : 34, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const b = bounds(o.coords);
  const sx = (v: number) => m.l + ((v - b.x0) / (b.x1 - b.x0)) * pw;
  const sy = (v: number) => m.t + ph - ((v - b.y0) / (b.y1 - b.y0)) * ph;
  const r = n > 3000 ? 1.6 : n > 800 ? 2.3 : 3.2;
  const parts: string[] = [];
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(
    `<text x="${W / 2}" y="20" text-anchor="middle" font-weight="bold" font-size="15">${esc(o.title)}</text>`,
  );
  if (o.subtitle)
    parts.push(
      `<text x="${W / 2}" y="38" text-anchor="middle" font-size="${W < 500 ? 11 : 12}" fill="#555">${esc(o.subtitle)}</text>`,
    );
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  for (const t of ticks(b.x0, b.x1))
    parts.push(
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#888"/><text x="${sx(t)}" y="${m.t + ph + 16}" text-anchor="middle" font-size="10" fill="#555">${t}</text>`,
    );
  for (const t of ticks(b.y0, b.y1))
    parts.push(
      `<line x1="${m.l - 4}" x2="${m.l}" y1="${sy(t)}" y2="${sy(t)}" stroke="#888"/><text x="${m.l - 6}" y="${sy(t) + 3}" text-anchor="end" font-size="10" fill="#555">${t}</text>`,
    );
  parts.push(
    `<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(o.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(o.yLabel)}</text>`,
  );
  // Points in row order (classes interleaved in most datasets), so no class is painted over wholesale.
  const dots: string[] = [];
  for (let i = 0; i < n; i++)
    dots.push(
      `<circle cx="${sx(o.coords[2 * i]).toFixed(1)}" cy="${sy(o.coords[2 * i + 1]).toFixed(1)}" r="${r}" fill="${classHex(o.labels[i])}"/>`,
    );
  parts.push(`<g fill-opacity="0.75">${dots.join('')}</g>`);
  const shown = present.slice(0, legendMax);
  const lx = W - legendW - 6;
  shown.forEach((c, k) => {
    const y = m.t + 8 + k * 17;
    const name = c < 0 ? 'unlabelled' : (o.classNames[c] ?? String(c));
    const max = W < 500 ? 15 : 20;
    const label = name.length > max ? `${name.slice(0, max - 1)}…` : name;
    parts.push(
      `<circle cx="${lx + 6}" cy="${y}" r="5" fill="${classHex(c)}"/><text x="${lx + 16}" y="${y + 4}" font-size="12">${esc(label)}</text>`,
    );
  });
  if (present.length > shown.length)
    parts.push(
      `<text x="${lx}" y="${m.t + 8 + shown.length * 17 + 4}" font-size="11" fill="#555">… and ${present.length - shown.length} more classes</text>`,
    );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" fill="#222">${parts.join('')}</svg>`;
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 96 }).png().toBuffer();
}

/**
 * Thumbnails at their map positions: the map is cut into a cols × rows grid and each cell shows the
 * point nearest its centre (framed in its class colour); empty cells stay blank, so the layout still
 * reads as the scatter plot does. Returns the picture and which row each cell shows (-1: none).
 */
export function thumbnailMap(
  coords: ArrayLike<number>,
  labels: ArrayLike<number>,
  thumbs: (row: number) => RGBAImage,
  opts: { columns?: number; rows?: number; tile?: number } = {},
): { image: RGBAImage; cells: number[] } {
  const cols = opts.columns ?? 24;
  const rowsN = opts.rows ?? 18;
  const tile = opts.tile ?? 32;
  const b = bounds(coords);
  const n = coords.length / 2;
  const cells = new Array<number>(cols * rowsN).fill(-1);
  const best = new Float64Array(cols * rowsN).fill(Number.POSITIVE_INFINITY);
  for (let i = 0; i < n; i++) {
    const fx = ((coords[2 * i] - b.x0) / (b.x1 - b.x0)) * cols;
    const fy = (1 - (coords[2 * i + 1] - b.y0) / (b.y1 - b.y0)) * rowsN;
    const cx = Math.min(cols - 1, Math.max(0, Math.floor(fx)));
    const cy = Math.min(rowsN - 1, Math.max(0, Math.floor(fy)));
    const d = (fx - cx - 0.5) ** 2 + (fy - cy - 0.5) ** 2;
    const c = cy * cols + cx;
    if (d < best[c]) {
      best[c] = d;
      cells[c] = i;
    }
  }
  const pad = 2;
  const step = tile + pad * 2;
  const image = createImage(cols * step, rowsN * step);
  cells.forEach((row, c) => {
    if (row < 0) return;
    const x = (c % cols) * step;
    const y = Math.floor(c / cols) * step;
    const [r, g, bl] = labels[row] < 0 ? [154, 154, 154] : categoricalColor(labels[row]);
    const frame = createImage(step, step, [r, g, bl, 255]);
    blit(image, frame, x, y);
    blit(image, thumbs(row), x + pad, y + pad);
  });
  return { image, cells };
}

/** An atlas of equal thumbnails, `columns` a row, row-major in the order given. */
export function atlas(thumbs: RGBAImage[], columns: number): RGBAImage {
  return grid(thumbs, { columns, gap: 0, background: [255, 255, 255, 255] });
}

/** The query image and its nearest neighbours in one row, captioned with class and distance. */
export async function neighborsRow(
  query: { image: RGBAImage; caption: string[] },
  neighbors: { image: RGBAImage; caption: string[] }[],
  title: string,
): Promise<RGBAImage> {
  const panels = [
    await labelledPanel(query.image, { title: 'query', caption: query.caption, fontSize: 11, minWidth: 96 }),
    ...(await Promise.all(
      neighbors.map((n, i) =>
        labelledPanel(n.image, { title: `#${i + 1}`, caption: n.caption, fontSize: 11, minWidth: 96 }),
      ),
    )),
  ];
  const rowImg = grid(panels, { columns: panels.length, gap: 6, background: [255, 255, 255, 255] });
  // A rule between the query and its neighbours.
  const x = panels[0].width + 2;
  for (let y = 0; y < rowImg.height; y++) rowImg.data.set([180, 180, 180, 255], (y * rowImg.width + x) * 4);
  return labelledPanel(rowImg, { title, fontSize: 13 });
}
