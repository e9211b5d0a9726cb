/**
 * FEM, the Feature Explanation Method (Fuad et al., IPTA 2020; Xplique's FEM): no gradients, no
 * class. In each channel A_k of the layer, the positions above μ_k + k·σ_k (its spatial mean and
 * standard deviation) are its unusually strong responses; their binary mask, weighted by μ_k, is summed
 * over channels.
 */
import * as tf from '@tensorflow/tfjs';
import { camMethod } from './cam-base.ts';
import { layerActivations } from './layer-forward.ts';

export interface FemOptions {
  /** Threshold in standard deviations above each channel's mean (default 2). */
  k?: number;
}

/** μ_k · 1(A_k > μ_k + k σ_k) for [N, h, w, C] activations: the weighted masks FEM sums. */
export function femWeighted(acts: tf.Tensor4D, k: number): tf.Tensor4D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(acts, [1, 2], true);
    const above = tf.cast(tf.greater(acts, tf.add(mean, tf.mul(k, tf.sqrt(variance)))), 'float32');
    return tf.mul(above, mean) as tf.Tensor4D;
  });
}

export const fem = camMethod<FemOptions>({
  id: 'fem',
  title: 'FEM',
  description:
    'Gradient-free and class-agnostic: in each channel, the positions responding more than k standard deviations above the channel’s mean, weighted by that mean. Shows what the layer reacts to strongly, not what the class needs.',
  check(o) {
    if (o.k !== undefined && !(typeof o.k === 'number' && Number.isFinite(o.k)))
      throw new Error(`k must be a number of standard deviations, got ${o.k}`);
  },
  compute({ model, input, layer, options }) {
    const acts = layerActivations(model, layer as tf.layers.Layer, input);
    try {
      return { weighted: femWeighted(acts, options.k ?? 2), meta: { k: options.k ?? 2 } };
    } finally {
      acts.dispose();
    }
  },
});
