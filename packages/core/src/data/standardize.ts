/**
 * Per-pixel standardization: every pixel position gets its own mean and standard deviation, computed on
 * [0,1]-scaled training pixels (Keras's featurewise_center + featurewise_std_normalization, but per pixel
 * rather than per channel). The statistics are stored with a model, so they are JSON round-trippable.
 */
import { imageSize } from './split.ts';
import type { ImageSet } from './types.ts';

export interface Standardizer {
  height: number;
  width: number;
  channels: number;
  /** H*W*C means of byte/255. */
  mean: Float32Array;
  /** H*W*C population standard deviations of byte/255, floored at `epsilon`. */
  std: Float32Array;
  epsilon: number;
}

export interface StandardizerJSON {
  kind: 'per-pixel';
  height: number;
  width: number;
  channels: number;
  epsilon: number;
  mean: number[];
  std: number[];
}

/**
 * Floor for std. Pixels that never vary in training (MNIST's border) have std 0; a tiny floor such as
 * Keras's 1e-6 would turn a rare stroke there at test time into an input of ~1e6. 0.01 is ~2.5 grey levels.
 */
export const DEFAULT_STD_EPSILON = 0.01;

/**
 * Streaming per-pixel moments over byte images. Sums are exact integers in float64
 * (255² × 2^32 images would be needed to lose precision), so mean and variance are exact.
 */
export class PixelMoments {
  readonly sum: Float64Array;
  readonly sumSq: Float64Array;
  count = 0;
  constructor(readonly size: number) {
    this.sum = new Float64Array(size);
    this.sumSq = new Float64Array(size);
  }
  /** Adds one image's bytes (length = size). */
  add(pixels: Uint8Array): void {
    const { sum, sumSq, size } = this;
    for (let p = 0; p < size; p++) {
      const b = pixels[p];
      sum[p] += b;
      sumSq[p] += b * b;
    }
    this.count++;
  }
  /** Merges another accumulator (e.g. from a worker) into this one. */
  merge(other: PixelMoments): void {
    if (other.size !== this.size) throw new Error(`PixelMoments: size ${other.size} ≠ ${this.size}`);
    for (let p = 0; p < this.size; p++) {
      this.sum[p] += other.sum[p];
      this.sumSq[p] += other.sumSq[p];
    }
    this.count += other.count;
  }
}

/** Fits mean/std images on the chosen examples of `set` (all when `indices` is omitted), one image at a time. */
export function fitStandardizer(
  set: ImageSet,
  indices?: ArrayLike<number>,
  opts: { epsilon?: number } = {},
): Standardizer {
  const epsilon = opts.epsilon ?? DEFAULT_STD_EPSILON;
  if (!(epsilon > 0)) throw new Error(`standardizer epsilon must be > 0, got ${epsilon}`);
  const size = imageSize(set);
  const n = indices ? indices.length : set.count;
  if (n === 0) throw new Error('cannot fit a standardizer on 0 images');
  const moments = new PixelMoments(size);
  for (let k = 0; k < n; k++) {
    const i = indices ? indices[k] : k;
    moments.add(set.images.subarray(i * size, (i + 1) * size));
  }
  return standardizerFromMoments(moments, set, epsilon);
}

/** Turns accumulated moments into a Standardizer for images of the given shape. */
export function standardizerFromMoments(
  m: PixelMoments,
  shape: { height: number; width: number; channels: number },
  epsilon = DEFAULT_STD_EPSILON,
): Standardizer {
  const mean = new Float32Array(m.size);
  const std = new Float32Array(m.size);
  const n = m.count;
  for (let p = 0; p < m.size; p++) {
    // Var in byte units from exact integer sums: (n·Σb² − (Σb)²) / n².
    const varBytes = Math.max(0, n * m.sumSq[p] - m.sum[p] * m.sum[p]) / (n * n);
    mean[p] = m.sum[p] / n / 255;
    std[p] = Math.max(Math.sqrt(varBytes) / 255, epsilon);
  }
  return { height: shape.height, width: shape.width, channels: shape.channels, mean, std, epsilon };
}

/** (x − mean) / std per pixel, in place, on a float NHWC batch of [0,1] values; returns x. */
export function applyStandardizer(s: Standardizer, x: Float32Array): Float32Array {
  const size = s.mean.length;
  if (x.length % size !== 0) {
    throw new Error(
      `standardizer for ${s.height}×${s.width}×${s.channels} images got a batch of ${x.length} values`,
    );
  }
  const inv = new Float32Array(size);
  for (let p = 0; p < size; p++) inv[p] = 1 / s.std[p];
  for (let off = 0; off < x.length; off += size) {
    for (let p = 0; p < size; p++) x[off + p] = (x[off + p] - s.mean[p]) * inv[p];
  }
  return x;
}

export function standardizerToJSON(s: Standardizer): StandardizerJSON {
  return {
    kind: 'per-pixel',
    height: s.height,
    width: s.width,
    channels: s.channels,
    epsilon: s.epsilon,
    mean: Array.from(s.mean),
    std: Array.from(s.std),
  };
}

/** Parses and validates a stored standardizer (e.g. from a model folder). */
export function standardizerFromJSON(j: unknown): Standardizer {
  const o = j as Partial<StandardizerJSON> | null;
  const size = o ? (o.height ?? 0) * (o.width ?? 0) * (o.channels ?? 0) : 0;
  const ok =
    o?.kind === 'per-pixel' &&
    size > 0 &&
    Array.isArray(o.mean) &&
    Array.isArray(o.std) &&
    o.mean.length === size &&
    o.std.length === size &&
    typeof o.epsilon === 'number' &&
    o.std.every((v) => typeof v === 'number' && v > 0) &&
    o.mean.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!ok || !o)
    throw new Error('invalid standardizer JSON (expected per-pixel mean/std arrays of size H*W*C)');
  return {
    height: o.height!,
    width: o.width!,
    channels: o.channels!,
    epsilon: o.epsilon!,
    mean: Float32Array.from(o.mean!),
    std: Float32Array.from(o.std!),
  };
}
