/**
 * Seeded noisy copies of a batch and their re-explanations: what both robustness metrics measure.
 * Noise is scaled by the batch's value range, so one radius suits raw pixels, [0, 1] and [−1, 1] inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../data/rng.ts';
import { gaussian, pixelsOf } from '../common.ts';
import type { Reexplain } from '../types.ts';

export interface NoiseOptions {
  /** Noisy copies per input (default 5; each is one re-explanation of the batch). */
  samples?: number;
  /** Noise scale as a fraction of the input's value range (default 0.02). */
  radius?: number;
}

export interface NoisyRun {
  /** Per sample k, per input i: the re-explained map. */
  maps: Float32Array[][];
  /** Per sample k, per input i: ‖x − x_k‖₂. */
  inputDistance: number[][];
}

export async function explainUnderNoise(
  input: tf.Tensor4D,
  targets: number[],
  explain: Reexplain,
  kind: 'uniform' | 'gaussian',
  seed: number,
  o: NoiseOptions,
): Promise<NoisyRun> {
  const samples = o.samples ?? 5;
  const radius = o.radius ?? 0.02;
  if (!(Number.isInteger(samples) && samples >= 1))
    throw new Error(`samples must be a positive integer, got ${samples}`);
  if (!(radius > 0)) throw new Error(`radius must be > 0, got ${radius}`);
  const [N, H, W, C] = input.shape;
  const x = await pixelsOf(input);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const scale = radius * (hi - lo || 1);
  const rng = createRng(seed);
  const size = H * W * C;
  const maps: Float32Array[][] = [];
  const inputDistance: number[][] = [];
  for (let k = 0; k < samples; k++) {
    const noisy = new Float32Array(x.length);
    const dist: number[] = [];
    for (let i = 0; i < N; i++) {
      let d = 0;
      for (let j = i * size; j < (i + 1) * size; j++) {
        const e = kind === 'uniform' ? (2 * rng() - 1) * scale : gaussian(rng) * scale;
        noisy[j] = x[j] + e;
        d += e * e;
      }
      dist.push(Math.sqrt(d));
    }
    const t = tf.tensor4d(noisy, [N, H, W, C]);
    try {
      maps.push(await explain({ input: t, targets }));
    } finally {
      t.dispose();
    }
    inputDistance.push(dist);
  }
  return { maps, inputDistance };
}

/** ‖a − b‖₂ over the non-NaN pixels of both. */
export function l2Distance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let p = 0; p < a.length; p++) if (!Number.isNaN(a[p]) && !Number.isNaN(b[p])) s += (a[p] - b[p]) ** 2;
  return Math.sqrt(s);
}

export function l2Norm(a: Float32Array): number {
  let s = 0;
  for (const v of a) if (!Number.isNaN(v)) s += v * v;
  return Math.sqrt(s);
}
