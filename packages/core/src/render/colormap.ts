/**
 * Colormaps from d3-scale-chromatic (maintained, perceptually uniform), sampled into 256-entry
 * lookup tables, and value → colour mapping with explicit ranges so every figure can show its scale.
 */
import {
  interpolateCividis,
  interpolateGreys,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateRdBu,
  interpolateTurbo,
  interpolateViridis,
  schemeTableau10,
} from 'd3-scale-chromatic';
import { createImage, type RGBAImage } from './image.ts';

const INTERPOLATORS = {
  viridis: interpolateViridis,
  inferno: interpolateInferno,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  cividis: interpolateCividis,
  turbo: interpolateTurbo,
  // Reversed so 0 is black and 1 is white, as images are drawn.
  gray: (t: number) => interpolateGreys(1 - t),
  // Diverging, reversed so negative is blue and positive is red (the usual convention for weights/attributions).
  rdbu: (t: number) => interpolateRdBu(1 - t),
} as const;

export type ColormapName = keyof typeof INTERPOLATORS;
export const COLORMAPS = Object.keys(INTERPOLATORS) as ColormapName[];

const luts = new Map<ColormapName, Uint8Array>();

function parseRgb(css: string): [number, number, number] {
  const m = css.match(/\d+(\.\d+)?/g);
  if (css.startsWith('#')) {
    const n = Number.parseInt(css.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  if (!m || m.length < 3) throw new Error(`unparseable colour '${css}'`);
  return [Number(m[0]), Number(m[1]), Number(m[2])];
}

/** 256×3 bytes of the colormap. */
export function lut(name: ColormapName): Uint8Array {
  let table = luts.get(name);
  if (table) return table;
  const f = INTERPOLATORS[name];
  if (!f) throw new Error(`unknown colormap '${name}' (expected one of: ${COLORMAPS.join(', ')})`);
  table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) table.set(parseRgb(f(i / 255)), i * 3);
  luts.set(name, table);
  return table;
}

export interface ValueRange {
  min: number;
  max: number;
}

/** Finite min/max of values; {0, 0} when there are none. */
export function valueRange(values: ArrayLike<number>): ValueRange {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? { min, max } : { min: 0, max: 0 };
}

/** A range centred on 0 that covers the values: for signed data under a diverging colormap. */
export function symmetricRange(values: ArrayLike<number>): ValueRange {
  const { min, max } = valueRange(values);
  const m = Math.max(Math.abs(min), Math.abs(max));
  return { min: -m, max: m };
}

export interface MapOptions {
  colormap?: ColormapName;
  /** Range mapped to the colormap's ends (default: the values' own range). */
  range?: ValueRange;
}

/** A single-channel map (row-major height×width) as a coloured image; non-finite values are drawn magenta. */
export function mapToImage(
  values: ArrayLike<number>,
  width: number,
  height: number,
  opts: MapOptions = {},
): RGBAImage {
  if (values.length !== width * height) {
    throw new Error(`map has ${values.length} values, expected ${width}×${height}`);
  }
  const table = lut(opts.colormap ?? 'viridis');
  const { min, max } = opts.range ?? valueRange(values);
  const span = max - min;
  const img = createImage(width, height);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const o = i * 4;
    if (!Number.isFinite(v)) {
      img.data[o] = 255;
      img.data[o + 1] = 0;
      img.data[o + 2] = 255;
      continue;
    }
    const t = span > 0 ? Math.min(1, Math.max(0, (v - min) / span)) : 0.5;
    const k = Math.round(t * 255) * 3;
    img.data[o] = table[k];
    img.data[o + 1] = table[k + 1];
    img.data[o + 2] = table[k + 2];
  }
  return img;
}

/** A categorical palette (Tableau 10, repeated with darkening past 10) for index maps such as mode maps. */
export function categoricalColor(index: number): [number, number, number] {
  const base = parseRgb(schemeTableau10[index % 10]);
  const shade = 1 - 0.3 * (Math.floor(index / 10) % 3);
  return [Math.round(base[0] * shade), Math.round(base[1] * shade), Math.round(base[2] * shade)];
}
