/**
 * Feature maps of one spatial layer as tiles: one coloured map per filter, all on the layer's
 * shared range by default, so brightness compares across filters.
 */
import { type ColormapName, mapToImage, type ValueRange, valueRange } from './colormap.ts';
import { type RGBAImage, upscale } from './image.ts';

export interface FeatureMapOptions {
  colormap?: ColormapName;
  /** Shared range (default: the layer's own min/max). */
  range?: ValueRange;
  /** Integer upscaling so small maps stay visible (default: to about 84 px). */
  scale?: number;
}

/** One channel of an H×W×C map as a row-major H×W array. */
export function channel(values: ArrayLike<number>, hw: number, c: number, f: number): Float32Array {
  const out = new Float32Array(hw);
  for (let p = 0; p < hw; p++) out[p] = values[p * c + f];
  return out;
}

export const defaultScale = (h: number, w: number, target = 84) =>
  Math.max(1, Math.round(target / Math.max(h, w)));

/** Per-filter tiles of an H×W×C activation (one image, NHWC without the batch axis). */
export function featureMapTiles(
  values: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  opts: FeatureMapOptions = {},
): { tiles: RGBAImage[]; range: ValueRange; ranges: ValueRange[] } {
  if (values.length !== h * w * c)
    throw new Error(`feature maps: ${values.length} values, expected ${h}×${w}×${c}`);
  const range = opts.range ?? valueRange(values);
  const scale = opts.scale ?? defaultScale(h, w);
  const tiles: RGBAImage[] = [];
  const ranges: ValueRange[] = [];
  for (let f = 0; f < c; f++) {
    const m = channel(values, h * w, c, f);
    ranges.push(valueRange(m));
    tiles.push(upscale(mapToImage(m, w, h, { colormap: opts.colormap ?? 'viridis', range }), scale));
  }
  return { tiles, range, ranges };
}
