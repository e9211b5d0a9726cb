/**
 * Guided backpropagation (Springenberg et al.) and guided Grad-CAM (Selvaraju et al.). Guided
 * backprop passes a gradient through a ReLU only where the forward input was positive AND the
 * incoming gradient is positive. The model's ReLUs (fused `activation: 'relu'|'relu6'` of conv and
 * dense layers, and ReLU layers) are swapped for that rule while the gradient is taken, then restored.
 */
import * as tf from '@tensorflow/tfjs';
import { camExplain, gradcamRule } from './cam-core.ts';
import { finish, resolveTargets, scores, targetScore } from './common.ts';
import { type ReluGradientRule, withReluRule } from './relu-rules.ts';
import type { ExplainMethod } from './types.ts';

/** Guided backprop's rule: pass where the forward input was positive (and below the cap) and dy > 0. */
const guidedRule: ReluGradientRule = (dy, input, cap) => {
  let open = tf.logicalAnd(tf.greater(input, 0), tf.greater(dy, 0));
  if (cap !== undefined) open = tf.logicalAnd(open, tf.less(input, cap));
  return tf.mul(dy, tf.cast(open, 'float32'));
};

/** Runs `fn` with every ReLU of `model` replaced by its guided version. */
export function withGuidedRelus<T>(model: tf.LayersModel, fn: () => T): T {
  return withReluRule(model, guidedRule, 'guided', fn);
}

/** Guided-backprop gradients of each example's target score w.r.t. the input, [N, H, W, C]. */
export function guidedGradients(model: tf.LayersModel, x: tf.Tensor4D, targets: number[]): tf.Tensor4D {
  return withGuidedRelus(model, () =>
    tf.grad((inp: tf.Tensor) => targetScore(scores(model, inp), targets))(x),
  ) as tf.Tensor4D;
}

export const guidedBackprop: ExplainMethod = {
  id: 'guided-backprop',
  title: 'Guided backprop',
  description:
    'Input gradient with ReLUs passing only positive signals both ways: sharp, edge-like pictures of what the network responds to (class-insensitive: compare with Grad-CAM).',
  needsLayer: false,
  async explain(req) {
    const targets = resolveTargets(req.model, req);
    const maps = tf.tidy(
      () => tf.max(tf.abs(guidedGradients(req.model, req.input, targets)), 3) as tf.Tensor3D,
    );
    try {
      return await finish('guided-backprop', maps, targets, false);
    } finally {
      maps.dispose();
    }
  },
};

export const guidedGradcam: ExplainMethod = {
  id: 'guided-gradcam',
  title: 'Guided Grad-CAM',
  description:
    'Guided backprop multiplied by the (upsampled) Grad-CAM map: high-resolution detail, restricted to where the class evidence is.',
  needsLayer: true,
  async explain(req) {
    const targets = resolveTargets(req.model, req);
    const cam = await camExplain('gradcam', gradcamRule, req);
    const [n, H, W] = req.input.shape;
    const maps = tf.tidy(() => {
      const g = tf.max(tf.abs(guidedGradients(req.model, req.input, targets)), 3);
      const c = tf.tensor3d(Float32Array.from(cam.maps.flatMap((m) => Array.from(m))), [n, H, W]);
      return tf.mul(g, c) as tf.Tensor3D;
    });
    try {
      return await finish('guided-gradcam', maps, targets, false, { layer: cam.layer, meta: cam.meta });
    } finally {
      maps.dispose();
    }
  },
};
