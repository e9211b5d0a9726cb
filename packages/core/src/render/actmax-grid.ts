/**
 * Drawing activation-maximization results: an image in the input range as RGBA (grey for one channel,
 * colour for three), and the layout of a labelled rows × columns grid (the sweep). Text itself is drawn
 * by the caller (Node: SVG through sharp; browser: canvas), from the label positions returned here.
 */
import { mapToImage } from './colormap.ts';
import { blit, createImage, type RGBAImage, upscale } from './image.ts';

/** An H·W·C image with values in `range` as RGBA; 1 channel → grey, 3 → RGB, others → first channel. */
export function actmaxToRGBA(
  pixels: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  range: [number, number] = [0, 1],
): RGBAImage {
  const [lo, hi] = range;
  if (c !== 3) {
    const first = new Float32Array(h * w);
    for (let i = 0; i < h * w; i++) first[i] = pixels[i * c];
    return mapToImage(first, w, h, { colormap: 'gray', range: { min: lo, max: hi } });
  }
  const img = createImage(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++)
      img.data[i * 4 + k] = Math.round(((pixels[i * 3 + k] - lo) / (hi - lo)) * 255);
  }
  return img;
}

export interface GridLabel {
  text: string;
  /** Anchor point in pixels; `anchor` says how the text aligns to it. */
  x: number;
  y: number;
  anchor: 'start' | 'middle' | 'end';
  bold?: boolean;
}

export interface LabelledGrid {
  image: RGBAImage;
  labels: GridLabel[];
  fontSize: number;
}

export interface LabelledGridOptions {
  /** Integer upscale of each tile (default: so tiles are ≥ 96 px). */
  scale?: number;
  gap?: number;
  fontSize?: number;
  /** Text above the column headers. */
  title?: string;
  /** Lines under each tile: captions[row][col]. */
  captions?: string[][];
}

/**
 * tiles[row][col] laid out with a header row (column labels), a left column (row labels) and optional
 * per-tile captions; returns the raster (white where text goes) and where each label belongs.
 */
export function labelledGrid(
  tiles: RGBAImage[][],
  rowLabels: string[],
  colLabels: string[],
  opts: LabelledGridOptions = {},
): LabelledGrid {
  const rows = tiles.length;
  const cols = tiles[0]?.length ?? 0;
  if (rows === 0 || cols === 0) throw new Error('labelledGrid needs at least one tile');
  const tw0 = tiles[0][0].width;
  const th0 = tiles[0][0].height;
  const scale = opts.scale ?? Math.max(1, Math.ceil(96 / Math.max(tw0, th0)));
  const fs = opts.fontSize ?? 13;
  const lineH = Math.round(fs * 1.35);
  const gap = opts.gap ?? 6;
  const captionLines = Math.max(0, ...(opts.captions ?? []).flat().map((c) => c.split('\n').length));
  const tw = tw0 * scale;
  const th = th0 * scale;
  const cellW = Math.max(
    tw,
    ...(opts.captions ?? []).flat().flatMap((c) => c.split('\n').map((l) => l.length * fs * 0.6)),
  );
  const cellH = th + captionLines * lineH;
  const left = Math.ceil(Math.max(...rowLabels.map((l) => l.length * fs * 0.62), fs)) + 2 * gap;
  const top = (opts.title ? lineH : 0) + lineH + gap;
  const titleW = opts.title ? opts.title.length * fs * 0.68 + 2 * gap : 0;
  const width = Math.ceil(Math.max(left + cols * (cellW + gap), titleW));
  const height = Math.ceil(top + rows * (cellH + gap));
  const image = createImage(width, height);
  const labels: GridLabel[] = [];
  if (opts.title) labels.push({ text: opts.title, x: width / 2, y: fs + 2, anchor: 'middle', bold: true });
  colLabels.forEach((text, col) => {
    labels.push({
      text,
      x: left + col * (cellW + gap) + cellW / 2,
      y: top - gap - 3,
      anchor: 'middle',
      bold: true,
    });
  });
  tiles.forEach((row, r) => {
    const y = top + r * (cellH + gap);
    labels.push({
      text: rowLabels[r] ?? '',
      x: left - gap,
      y: y + th / 2 + fs / 2,
      anchor: 'end',
      bold: true,
    });
    row.forEach((tile, col) => {
      const x = left + col * (cellW + gap);
      blit(image, upscale(tile, scale), Math.round(x + (cellW - tw) / 2), y);
      const caption = opts.captions?.[r]?.[col];
      if (caption) {
        caption.split('\n').forEach((line, i) => {
          labels.push({ text: line, x: x + cellW / 2, y: y + th + (i + 1) * lineH - 3, anchor: 'middle' });
        });
      }
    });
  });
  return { image, labels, fontSize: fs };
}
