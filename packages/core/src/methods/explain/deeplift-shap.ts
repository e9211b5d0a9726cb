/**
 * DeepLIFT-SHAP (Lundberg & Lee; Captum's DeepLiftShap): DeepLIFT against each reference of a
 * distribution, averaged. Each term sums exactly to f(x) − f(bₖ), so the average sums to
 * f(x) − mean f(bₖ) over the references used.
 */
import * as tf from '@tensorflow/tfjs';
import { type BaselineSpec, baselineSample, describeBaselines } from './baselines.ts';
import { finish, resolveTargets } from './common.ts';
import { completeness, deepliftAttributions, targetScores } from './deeplift.ts';
import { gradientBatch, sampleCount } from './sampled-gradients.ts';
import type { ExplainMethod, ExplainRequest } from './types.ts';

export interface DeepLiftShapOptions {
  /**
   * References: 'noise' (default: seeded uniform noise over the input's range, `references` of them)
   * or reference images [K, H, W, C] in the model's input space (all K are used).
   */
  baselines?: BaselineSpec;
  /** Noise references (default 8 on inputs up to 64 pixels a side, 4 above). */
  references?: number;
  /** |Δx| below which a unit's derivative replaces Δy/Δx (default 1e-7). */
  eps?: number;
  /** Inputs + references per backward pass (default 64 on small inputs, 8 above). */
  batch?: number;
  seed?: number;
}

export const deepliftShap: ExplainMethod<DeepLiftShapOptions> = {
  id: 'deeplift-shap',
  title: 'DeepLIFT-SHAP',
  description:
    'DeepLIFT averaged over a set of references: an estimate of SHAP values that does not hinge on one baseline, summing to f(x) minus the references’ mean score.',
  needsLayer: false,
  async explain(req: ExplainRequest<DeepLiftShapOptions>) {
    const targets = resolveTargets(req.model, req);
    const o = req.options ?? {};
    const x = req.input;
    const n = x.shape[0];
    const spec = o.baselines ?? 'noise';
    if (typeof spec === 'string' && spec !== 'noise')
      throw new Error(
        `baselines must be 'noise' or reference images for DeepLIFT-SHAP (one '${spec}' reference is DeepLIFT)`,
      );
    const count = typeof spec === 'string' ? sampleCount('references', o.references, x, 8, 4) : spec.shape[0];
    const seed = o.seed ?? 0;
    // References per backward pass: the pass runs inputs and references together (2·N each).
    const per = Math.max(1, Math.floor(gradientBatch(o.batch, x) / (2 * n)));
    let sum: tf.Tensor4D | null = null;
    let refSum: tf.Tensor1D | null = null;
    for (let k0 = 0; k0 < count; k0 += per) {
      const ks = Array.from({ length: Math.min(per, count - k0) }, (_, j) => k0 + j);
      const prev: [tf.Tensor4D, tf.Tensor1D] | null = sum && refSum ? [sum, refSum] : null;
      const next = tf.tidy(() => {
        const refs = tf.concat(ks.map((k) => baselineSample(x, spec, k, seed))) as tf.Tensor4D;
        const xs = tf.concat(ks.map(() => x)) as tf.Tensor4D;
        const t = ks.flatMap(() => targets);
        const a = deepliftAttributions(req.model, xs, refs, t, o.eps);
        const s = tf.sum(tf.reshape(a, [ks.length, ...x.shape]), 0) as tf.Tensor4D;
        const f = tf.sum(tf.reshape(targetScores(req.model, refs, t), [ks.length, n]), 0) as tf.Tensor1D;
        return prev ? ([tf.add(prev[0], s), tf.add(prev[1], f)] as const) : ([s, f] as const);
      });
      if (prev) tf.dispose(prev);
      [sum, refSum] = next as [tf.Tensor4D, tf.Tensor1D];
    }
    const attr = tf.tidy(() => tf.div(sum!, count) as tf.Tensor4D);
    const fRef = tf.tidy(() => tf.div(refSum!, count) as tf.Tensor1D);
    const fx = targetScores(req.model, x, targets);
    const maps = tf.tidy(() => tf.sum(attr, 3) as tf.Tensor3D);
    try {
      return await finish('deeplift-shap', maps, targets, true, {
        meta: {
          references: count,
          baselines: describeBaselines(spec),
          ...(await completeness(attr, fx, fRef)),
        },
      });
    } finally {
      tf.dispose([sum!, refSum!, attr, fRef, fx, maps]);
    }
  },
};
