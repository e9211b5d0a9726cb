/**
 * Mode maps: per class and pixel, how often each filter was the most activated one (argmax over
 * channels, lowest index on ties). Keeping the whole count histogram makes the statistic mergeable
 * and lets a figure show the mode's share and where several filters tie.
 */
import { decodeU32, encodeU32 } from './codec.ts';

export interface ModeCounts {
  numClasses: number;
  height: number;
  width: number;
  filters: number;
  /** classes × (H·W) × filters counts. */
  counts: Uint32Array;
  /** Images per class. */
  images: number[];
}

export interface ModeCountsJSON extends Omit<ModeCounts, 'counts'> {
  counts: string;
}

export function createModeCounts(
  numClasses: number,
  height: number,
  width: number,
  filters: number,
): ModeCounts {
  return {
    numClasses,
    height,
    width,
    filters,
    counts: new Uint32Array(numClasses * height * width * filters),
    images: new Array(numClasses).fill(0),
  };
}

/** Per-pixel argmax over channels of n NHWC maps (lowest index wins ties). */
export function argmaxChannels(act: ArrayLike<number>, n: number, hw: number, c: number): Int32Array {
  const out = new Int32Array(n * hw);
  for (let p = 0; p < n * hw; p++) {
    let best = 0;
    let bv = act[p * c];
    for (let f = 1; f < c; f++) {
      const v = act[p * c + f];
      if (v > bv) {
        bv = v;
        best = f;
      }
    }
    out[p] = best;
  }
  return out;
}

/** Adds n images' argmax maps (n × H·W filter indices). */
export function addModeCounts(
  s: ModeCounts,
  argmax: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
): void {
  const hw = s.height * s.width;
  const F = s.filters;
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    s.images[c]++;
    const base = c * hw * F;
    for (let p = 0; p < hw; p++) s.counts[base + p * F + argmax[i * hw + p]]++;
  }
}

export function mergeModeCounts(a: ModeCounts, b: ModeCounts): ModeCounts {
  if (a.counts.length !== b.counts.length || a.filters !== b.filters)
    throw new Error('mode counts differ in shape');
  const counts = new Uint32Array(a.counts);
  for (let i = 0; i < counts.length; i++) counts[i] += b.counts[i];
  return { ...a, counts, images: a.images.map((x, i) => x + b.images[i]) };
}

export interface ModeMap {
  height: number;
  width: number;
  /** Per pixel: the most frequent argmax filter (lowest index among ties); −1 when the class has no images. */
  mode: Int32Array;
  /** Per pixel: the mode's count / images of the class. */
  share: Float32Array;
  /** Per pixel: the filters tied for the mode (length 1 when there is no tie). */
  tied: number[][];
}

export function modeMap(s: ModeCounts, cls: number): ModeMap {
  const hw = s.height * s.width;
  const F = s.filters;
  const mode = new Int32Array(hw).fill(-1);
  const share = new Float32Array(hw);
  const tied: number[][] = [];
  const total = s.images[cls];
  for (let p = 0; p < hw; p++) {
    const base = (cls * hw + p) * F;
    let best = 0;
    for (let f = 1; f < F; f++) if (s.counts[base + f] > s.counts[base + best]) best = f;
    const top = s.counts[base + best];
    const ties: number[] = [];
    if (total > 0) for (let f = 0; f < F; f++) if (s.counts[base + f] === top) ties.push(f);
    tied.push(ties);
    if (total > 0) {
      mode[p] = best;
      share[p] = top / total;
    }
  }
  return { height: s.height, width: s.width, mode, share, tied };
}

/** count histogram of one class and pixel (index = filter). */
export function pixelHistogram(s: ModeCounts, cls: number, y: number, x: number): Uint32Array {
  const base = (cls * s.height * s.width + y * s.width + x) * s.filters;
  return s.counts.slice(base, base + s.filters);
}

export const modeCountsToJSON = (s: ModeCounts): ModeCountsJSON => ({ ...s, counts: encodeU32(s.counts) });

export function modeCountsFromJSON(j: ModeCountsJSON): ModeCounts {
  return {
    numClasses: j.numClasses,
    height: j.height,
    width: j.width,
    filters: j.filters,
    images: [...j.images],
    counts: decodeU32(j.counts, j.numClasses * j.height * j.width * j.filters, 'mode counts'),
  };
}
