import type { ModelSpec } from '../../src/models/spec.ts';
import type { Batch, BatchSource } from '../../src/train/batch-source.ts';

/** Small seeded PRNG (mulberry32) so synthetic sets are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticSet {
  x: Float32Array;
  y: Uint8Array;
  count: number;
  size: number;
  channels: number;
}

/**
 * A learnable toy problem: size×size images of noise in [0, 0.4) where one quadrant is brighter
 * (+0.6); the class is that quadrant (0..3).
 */
export function quadrants(count: number, seed: number, size = 16, channels = 1): SyntheticSet {
  const r = rng(seed);
  const px = size * size * channels;
  const x = new Float32Array(count * px);
  const y = new Uint8Array(count);
  const h = size / 2;
  for (let n = 0; n < count; n++) {
    const q = Math.floor(r() * 4);
    y[n] = q;
    const top = q < 2 ? 0 : h;
    const left = q % 2 === 0 ? 0 : h;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const bright = i >= top && i < top + h && j >= left && j < left + h ? 0.6 : 0;
        for (let c = 0; c < channels; c++) x[n * px + (i * size + j) * channels + c] = r() * 0.4 + bright;
      }
    }
  }
  return { x, y, count, size, channels };
}

/** Batches over a set, in order, or shuffled per epoch when `shuffleSeed` is given. */
export function batchesOf(set: SyntheticSet, batchSize: number, shuffleSeed?: number): BatchSource {
  const px = set.size * set.size * set.channels;
  return function* (epoch: number): Generator<Batch> {
    const order = Array.from({ length: set.count }, (_, i) => i);
    if (shuffleSeed !== undefined) {
      const r = rng(shuffleSeed * 7919 + epoch);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    for (let start = 0; start < set.count; start += batchSize) {
      const idx = order.slice(start, start + batchSize);
      const x = new Float32Array(idx.length * px);
      const y = new Uint8Array(idx.length);
      idx.forEach((k, i) => {
        x.set(set.x.subarray(k * px, (k + 1) * px), i * px);
        y[i] = set.y[k];
      });
      yield { x, y, size: idx.length };
    }
  };
}

/** A model small enough to train in a second on the slow cpu backend (8×8 inputs). */
export const TINY_SPEC: ModelSpec = {
  name: 'tiny',
  layers: [
    { type: 'conv2d', filters: 4, kernel: 3, padding: 'same', activation: 'relu' },
    { type: 'maxpool', pool: 2 },
    { type: 'flatten' },
  ],
};

/** TINY_SPEC with batch norm and dropout, to exercise training-mode layers. */
export const TINY_BN_SPEC: ModelSpec = {
  name: 'tiny-bn',
  layers: [
    { type: 'conv2d', filters: 4, kernel: 3, padding: 'same', useBias: false },
    { type: 'batchnorm' },
    { type: 'activation', activation: 'relu' },
    { type: 'maxpool', pool: 2 },
    { type: 'dropout', rate: 0.25 },
    { type: 'flatten' },
    { type: 'dense', units: 8, activation: 'relu' },
    { type: 'dropout', rate: 0.25 },
  ],
};
