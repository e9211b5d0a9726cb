/**
 * Captum's NoiseTunnel moments over SmoothGrad's noisy copies: the mean gradient and the mean squared
 * gradient per input element. The noise is SmoothGrad's own (σ = level × the batch's value range,
 * sample s seeded seed + s), so the variants average over exactly the copies SmoothGrad sees.
 */
import * as tf from '@tensorflow/tfjs';
import { gradientBatch, sampleCount, sumOverSamples } from './sampled-gradients.ts';

export interface NoiseTunnelOptions {
  /** Noise standard deviation as a fraction of the input's value range (default 0.15, as SmoothGrad). */
  noise?: number;
  /** Noisy samples (default 25 on inputs up to 64 pixels a side, 10 above). */
  samples?: number;
  /** Points per gradient call (default 64 on small inputs, 8 above). */
  batch?: number;
  seed?: number;
}

export interface Moments {
  /** E[∇f], [N, H, W, C]. */
  mean: tf.Tensor4D;
  /** E[(∇f)²], [N, H, W, C]. */
  meanSquare: tf.Tensor4D;
  samples: number;
  noise: number;
  sigma: number;
}

export function noiseTunnelMoments(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  targets: number[],
  o: NoiseTunnelOptions = {},
): Moments {
  const samples = sampleCount('samples', o.samples, x, 25, 10);
  const level = o.noise ?? 0.15;
  if (!(level >= 0)) throw new Error(`noise must be ≥ 0, got ${level}`);
  const seed = o.seed ?? 0;
  const [lo, hi] = tf.tidy(() => [x.min().dataSync()[0], x.max().dataSync()[0]]);
  const sigma = level * Math.max(hi - lo, 1e-6);
  const [sum, sumSq] = sumOverSamples(
    model,
    targets,
    samples,
    gradientBatch(o.batch, x),
    (s) => ({ point: tf.add(x, tf.randomNormal(x.shape, 0, sigma, 'float32', seed + s)) as tf.Tensor4D }),
    (_, g) => [g, tf.square(g)],
  );
  const out = tf.tidy(() => [tf.div(sum, samples), tf.div(sumSq, samples)] as tf.Tensor4D[]);
  tf.dispose([sum, sumSq]);
  return { mean: out[0], meanSquare: out[1], samples, noise: level, sigma };
}
