/**
 * Input invariance (Kindermans et al., 2019; Quantus `InputInvariance`): shift every input value by a
 * constant and give a copy of the model a compensating first layer (its bias, or the moving mean of the
 * batch norm right after a bias-free first layer), so the model computes exactly the same function of
 * the original input. An input-invariant method gives the same map; gradient×input and IG with a zero
 * baseline do not. Per input: ‖a − a′‖/‖a‖. Lower is better (0: invariant). Exact for 'valid' first
 * layers; with zero padding the border sees padding that was not shifted, so border pixels may differ.
 */
import * as tf from '@tensorflow/tfjs';
import { cloneModel } from '../../methods/faithfulness/randomization.ts';
import { dims, needExplain, needModel, pixelsOf, resultOf } from '../common.ts';
import { l2Distance, l2Norm } from '../robustness/noise.ts';
import type { Metric } from '../types.ts';

/**
 * Makes `model` (a copy, changed in place) compute on x + shift what it computed on x, by correcting
 * its first weighted layer. Throws when the first layer is not a Conv2D, DepthwiseConv2D or Dense
 * with a bias or a following BatchNormalization.
 */
export function compensateShift(model: tf.LayersModel, shift: number): string {
  const idx = model.layers.findIndex((l) => l.getWeights().length > 0);
  const layer = model.layers[idx];
  const cls = layer?.getClassName();
  if (!layer || !['Conv2D', 'DepthwiseConv2D', 'Dense'].includes(cls))
    throw new Error(
      `input-invariance: the first weighted layer is ${cls ?? 'missing'}, not Conv2D/DepthwiseConv2D/Dense`,
    );
  const weights = layer.getWeights();
  const kernel = weights[0];
  // The extra pre-activation a constant shift adds to each output unit.
  const extra = tf.tidy(() => {
    if (cls === 'DepthwiseConv2D') return tf.mul(tf.sum(kernel, [0, 1]), shift).flatten();
    return tf.mul(tf.sum(kernel, cls === 'Dense' ? [0] : [0, 1, 2]), shift);
  });
  try {
    if (weights.length > 1) {
      const bias = tf.sub(weights[1], extra);
      layer.setWeights([kernel, bias, ...weights.slice(2)]);
      bias.dispose();
      return layer.name;
    }
    const next = model.layers[idx + 1];
    if (next?.getClassName() === 'BatchNormalization') {
      const w = next.getWeights();
      const k = next.weights.findIndex((v) => v.name.includes('moving_mean'));
      if (k >= 0) {
        const mean = tf.add(w[k], extra);
        next.setWeights(w.map((v, j) => (j === k ? mean : v)));
        mean.dispose();
        return next.name;
      }
    }
    throw new Error(
      `input-invariance: layer '${layer.name}' has no bias and no batch norm after it to compensate a shift`,
    );
  } finally {
    extra.dispose();
  }
}

export const inputInvariance: Metric<{ shift?: number }> = {
  id: 'input-invariance',
  title: 'Input invariance',
  family: 'axiomatic',
  description:
    'Relative change of the map when the input is shifted by a constant and the first layer compensates, so the model is unchanged (Kindermans et al.). Lower is better; 0 is invariant.',
  higherIsBetter: false,
  needs: { model: true, region: false, explain: true },
  cost: '1 re-explanation of the batch on a copy of the model',
  async compute(ctx, o = {}) {
    dims(ctx, 'input-invariance');
    const model = needModel(ctx, 'input-invariance');
    const explain = needExplain(ctx, 'input-invariance');
    let shift = o.shift;
    if (shift === undefined) {
      const x = await pixelsOf(ctx.input);
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const v of x) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      shift = -0.5 * (hi - lo || 1);
    }
    const clone = await cloneModel(model);
    const shifted = tf.add(ctx.input, shift) as tf.Tensor4D;
    try {
      const compensated = compensateShift(clone, shift);
      const maps = await explain({ input: shifted, targets: ctx.targets, model: clone });
      const values = ctx.maps.map((a, i) => {
        const n = l2Norm(a);
        return n > 0 ? l2Distance(a, maps[i]) / n : Number.NaN;
      });
      return resultOf('input-invariance', values, { shift, compensated });
    } finally {
      shifted.dispose();
      clone.dispose();
    }
  },
};
