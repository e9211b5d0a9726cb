/**
 * The loop under the sampling gradient methods (SmoothGrad², VarGrad, GradientSHAP, expected
 * gradients): K samples of N points each go through the input gradient several samples per call
 * (a batch of about `batch` points), and per-sample terms are summed as they come, so memory stays
 * at one call's worth whatever K is.
 */
import * as tf from '@tensorflow/tfjs';
import { inputGradients } from './input-gradients.ts';

export interface Sample {
  /** The points to differentiate at, [N, H, W, C]. */
  point: tf.Tensor4D;
  /** Anything the term needs besides the gradient (a baseline, …). */
  context?: tf.Tensor4D;
}

/**
 * Σₖ term(k, ∇f(point_k), sample_k) for k < count, each term a list of tensors summed element-wise.
 * `sample` and `term` run inside a tidy: what they make is disposed unless returned.
 */
export function sumOverSamples(
  model: tf.LayersModel,
  targets: number[],
  count: number,
  batch: number,
  sample: (k: number) => Sample,
  term: (k: number, grad: tf.Tensor4D, s: Sample) => tf.Tensor[],
): tf.Tensor[] {
  const n = targets.length;
  const per = Math.max(1, Math.floor(batch / n));
  let acc: tf.Tensor[] | null = null;
  for (let k0 = 0; k0 < count; k0 += per) {
    const ks = Array.from({ length: Math.min(per, count - k0) }, (_, j) => k0 + j);
    const prev: tf.Tensor[] | null = acc;
    const next: tf.Tensor[] = tf.tidy(() => {
      const samples = ks.map(sample);
      const points = samples.length === 1 ? samples[0].point : tf.concat(samples.map((s) => s.point));
      const grads = inputGradients(
        model,
        points as tf.Tensor4D,
        ks.flatMap(() => targets),
      );
      const parts = ks.length === 1 ? [grads] : (tf.split(grads, ks.length) as tf.Tensor4D[]);
      let sums = prev;
      ks.forEach((k, j) => {
        const t = term(k, parts[j], samples[j]);
        sums = sums ? sums.map((s, i) => tf.add(s, t[i])) : t;
      });
      return sums as tf.Tensor[];
    });
    if (prev) tf.dispose(prev);
    acc = next;
  }
  if (!acc) throw new Error('no samples');
  return acc;
}

/** A sample count: the option, checked, else `small` on inputs up to 64 pixels a side and `large` above. */
export function sampleCount(
  name: string,
  given: number | undefined,
  input: tf.Tensor4D,
  small: number,
  large: number,
): number {
  const v = given ?? (Math.max(input.shape[1], input.shape[2]) <= 64 ? small : large);
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${name} must be a positive integer, got ${v}`);
  return v;
}

/** Points per gradient call: the option, checked, else 64 on small inputs and 8 above (MobileNet-sized). */
export function gradientBatch(given: number | undefined, input: tf.Tensor4D): number {
  return sampleCount('batch', given, input, 64, 8);
}
