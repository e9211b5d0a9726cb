/** A rows × columns matrix (e.g. classes × filters) as a heatmap with square cells. */
import { type ColormapName, mapToImage, type ValueRange, valueRange } from './colormap.ts';
import { type RGBAImage, upscale } from './image.ts';

export interface HeatmapOptions {
  colormap?: ColormapName;
  range?: ValueRange;
  /** Cell size in pixels (default: fit about 640 px wide, 4–24 px). */
  cell?: number;
}

export function matrixHeatmap(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  opts: HeatmapOptions = {},
): { image: RGBAImage; range: ValueRange; cell: number } {
  const range = opts.range ?? valueRange(values);
  const cell = opts.cell ?? Math.max(4, Math.min(24, Math.floor(640 / cols)));
  const image = upscale(
    mapToImage(values, cols, rows, { colormap: opts.colormap ?? 'viridis', range }),
    cell,
  );
  return { image, range, cell };
}

/** Row-wise argmax of a matrix (NaN rows give −1): which filter each class drives most. */
export function rowArgmax(values: ArrayLike<number>, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = -1;
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      if (Number.isFinite(v) && (best < 0 || v > values[r * cols + best])) best = c;
    }
    return best;
  });
}
