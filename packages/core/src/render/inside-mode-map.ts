/**
 * Mode maps: each pixel coloured by its most frequent argmax filter (categorical palette); pixels
 * where several filters tie are drawn as diagonal stripes of the tied filters' colours.
 */
import { categoricalColor, mapToImage } from './colormap.ts';
import { createImage, type RGBAImage, upscale } from './image.ts';

export interface ModeMapLike {
  height: number;
  width: number;
  mode: ArrayLike<number>;
  share: ArrayLike<number>;
  tied: number[][];
}

export function modeMapImage(m: ModeMapLike, scale: number): RGBAImage {
  const img = createImage(m.width * scale, m.height * scale, [200, 200, 200, 255]);
  for (let y = 0; y < m.height; y++)
    for (let x = 0; x < m.width; x++) {
      const p = y * m.width + x;
      if (m.mode[p] < 0) continue;
      const tied = m.tied[p].length > 1 ? m.tied[p] : [m.mode[p]];
      for (let v = 0; v < scale; v++)
        for (let u = 0; u < scale; u++) {
          const f = tied[Math.floor((u + v) / Math.max(1, Math.floor(scale / 3))) % tied.length];
          img.data.set([...categoricalColor(f), 255], ((y * scale + v) * img.width + x * scale + u) * 4);
        }
    }
  return img;
}

/** The mode's share per pixel on [0, 1] (how dominant the mode filter is). */
export function modeShareImage(m: ModeMapLike, scale: number): RGBAImage {
  return upscale(
    mapToImage(m.share, m.width, m.height, { colormap: 'viridis', range: { min: 0, max: 1 } }),
    scale,
  );
}

/** Filters that appear in a mode map (as mode or tied), most pixels first. */
export function modeFilters(m: ModeMapLike): { filter: number; pixels: number }[] {
  const n = new Map<number, number>();
  for (const t of m.tied) for (const f of t) n.set(f, (n.get(f) ?? 0) + 1);
  return [...n]
    .map(([filter, pixels]) => ({ filter, pixels }))
    .sort((a, b) => b.pixels - a.pixels || a.filter - b.filter);
}

/** A solid colour swatch for a legend entry. */
export function swatch(filter: number, size = 14): RGBAImage {
  return createImage(size, size, [...categoricalColor(filter), 255]);
}
