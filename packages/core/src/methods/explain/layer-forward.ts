/**
 * One forward pass to the class scores with a layer's output captured and, optionally, replaced
 * (Ablation-CAM's zeroed channels): the layer's call is wrapped for the duration of the pass, as in
 * layer-gradients.ts, so any layers model works, not only chains. No gradients.
 */
import * as tf from '@tensorflow/tfjs';
import { scores } from './common.ts';

export interface LayerForward {
  /** [N', K] class scores, N' the batch after `edit` (edit may broadcast one example to many). */
  scores: tf.Tensor2D;
  /** [N, h, w, C] the layer's own output for the input, before any edit. */
  acts: tf.Tensor4D;
}

export function layerForward(
  model: tf.LayersModel,
  layer: tf.layers.Layer,
  x: tf.Tensor4D,
  edit?: (acts: tf.Tensor4D) => tf.Tensor4D,
): LayerForward {
  const original = layer.call;
  let acts: tf.Tensor4D | null = null;
  try {
    let s: tf.Tensor2D;
    try {
      s = tf.tidy(() => {
        layer.call = function (this: tf.layers.Layer, inputs, kwargs) {
          const out = original.call(this, inputs, kwargs) as tf.Tensor4D;
          acts = tf.keep(out.clone());
          return edit ? edit(out) : out;
        };
        return scores(model, x);
      });
    } catch (err) {
      if (acts) (acts as tf.Tensor).dispose();
      throw err;
    }
    if (!acts) {
      s.dispose();
      throw new Error(`layer '${layer.name}' was not reached by the forward pass`);
    }
    return { scores: s, acts };
  } finally {
    layer.call = original;
  }
}

/** The layer's activations for x (the scores computed on the way are dropped). */
export function layerActivations(model: tf.LayersModel, layer: tf.layers.Layer, x: tf.Tensor4D): tf.Tensor4D {
  const r = layerForward(model, layer, x);
  r.scores.dispose();
  return r.acts;
}
