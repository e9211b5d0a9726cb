/**
 * A layer's activations A and the gradient of each example's target score with respect to them,
 * for any layers model (not only chains): during one forward pass the layer's output gets a zero
 * tensor δ added, and d(score)/dδ at δ = 0 is d(score)/dA. Only the pass from the layer on is
 * recorded for the gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { pauseTape } from '../../engine/tape-pause.ts';
import { scores, targetScore } from './common.ts';

export interface LayerGradients {
  /** [N, h, w, C] activations of the layer. */
  acts: tf.Tensor4D;
  /** [N, h, w, C] gradients of each example's target score. */
  grads: tf.Tensor4D;
}

export function layerGradients(
  model: tf.LayersModel,
  layer: tf.layers.Layer,
  x: tf.Tensor4D,
  targets: number[],
  /** What to differentiate instead of the targets' summed scores (Finer-CAM's score differences). */
  objective?: (scores: tf.Tensor2D) => tf.Scalar,
): LayerGradients {
  const shape = [x.shape[0], ...(layer.outputShape as number[]).slice(1)];
  const original = layer.call;
  let acts: tf.Tensor | null = null;
  try {
    const grads = tf.tidy(() => {
      const delta = tf.zeros(shape);
      return tf.grad((d: tf.Tensor) => {
        // Nothing before the layer is on the path from δ: it runs unrecorded (tape-pause.ts).
        const resume = pauseTape();
        try {
          layer.call = function (this: tf.layers.Layer, inputs, kwargs) {
            const out = original.call(this, inputs, kwargs) as tf.Tensor;
            resume();
            acts = tf.keep(out.clone());
            return tf.add(out, d);
          };
          const s = scores(model, x);
          return objective ? objective(s) : targetScore(s, targets);
        } finally {
          resume();
        }
      })(delta);
    });
    if (!acts) throw new Error(`layer '${layer.name}' was not reached by the forward pass`);
    return { acts: acts as tf.Tensor4D, grads: grads as tf.Tensor4D };
  } finally {
    layer.call = original;
  }
}
