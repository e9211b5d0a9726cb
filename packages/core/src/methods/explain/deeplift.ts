/**
 * DeepLIFT with the rescale rule (Shrikumar et al.; Captum's DeepLift): attributions
 * m ⊙ (x − x₀) whose sum is f(x) − f(x₀) for the target score, m the multipliers of
 * deeplift-rules.ts. The reference x₀ is zeros, a blurred copy, the image's mean colour, seeded
 * noise, or reference images given by the caller.
 */
import * as tf from '@tensorflow/tfjs';
import { type BaselineSpec, baselineFor, checkReferences, describeBaselines } from './baselines.ts';
import { finish, resolveTargets, scores, targetScore } from './common.ts';
import { deepliftPatches } from './deeplift-rules.ts';
import { withPatches } from './layer-patch.ts';
import type { ExplainMethod, ExplainRequest } from './types.ts';

export interface DeepLiftOptions {
  /** Reference: 'zeros' (default), 'blur', 'mean', 'noise', or images [N or 1, H, W, C] in the model's input space. */
  baseline?: BaselineSpec;
  /** |Δx| below which a unit's derivative replaces Δy/Δx (default 1e-7). */
  eps?: number;
  seed?: number;
}

/** Each example's target score, [N]. */
export function targetScores(model: tf.LayersModel, x: tf.Tensor4D, targets: number[]): tf.Tensor1D {
  return tf.tidy(() => {
    const s = scores(model, x);
    return tf.sum(tf.mul(s, tf.oneHot(tf.tensor1d(targets, 'int32'), s.shape[1])), 1) as tf.Tensor1D;
  });
}

/** DeepLIFT attributions [N, H, W, C] of x against the reference x₀ (same shape). */
export function deepliftAttributions(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  ref: tf.Tensor4D,
  targets: number[],
  eps = 1e-7,
): tf.Tensor4D {
  const n = x.shape[0];
  const patches = deepliftPatches(model, eps);
  return tf.tidy(() => {
    const both = tf.concat([x, ref], 0);
    const m = withPatches(patches, () =>
      tf.grad((inp: tf.Tensor) => targetScore(tf.slice(scores(model, inp), 0, n) as tf.Tensor2D, targets))(
        both,
      ),
    );
    return tf.mul(tf.slice(m, 0, n), tf.sub(x, ref)) as tf.Tensor4D;
  });
}

/** The reference for DeepLIFT: a kind, or images matching x (one per input, or one for all). */
export function referenceFor(x: tf.Tensor4D, spec: BaselineSpec, seed: number): tf.Tensor4D {
  if (typeof spec === 'string') return baselineFor(x, spec, seed);
  checkReferences(x, spec);
  const n = x.shape[0];
  if (spec.shape[0] !== n && spec.shape[0] !== 1)
    throw new Error(`baseline has ${spec.shape[0]} images for ${n} inputs: give one per input, or one`);
  return tf.tidy(() => tf.add(tf.zerosLike(x), spec) as tf.Tensor4D);
}

/** Per-example sums of attributions and the score differences they should equal, read back. */
export async function completeness(
  attr: tf.Tensor4D,
  fx: tf.Tensor1D,
  fRef: tf.Tensor1D,
): Promise<{ attributionSum: number[]; scoreDifference: number[]; convergenceDelta: number[] }> {
  const sums = tf.tidy(() => tf.sum(attr, [1, 2, 3]));
  const [s, a, b] = await Promise.all([sums.data(), fx.data(), fRef.data()]);
  sums.dispose();
  const diff = Array.from(a, (v, i) => v - b[i]);
  return {
    attributionSum: Array.from(s),
    scoreDifference: diff,
    convergenceDelta: Array.from(s, (v, i) => v - diff[i]),
  };
}

export const deeplift: ExplainMethod<DeepLiftOptions> = {
  id: 'deeplift',
  title: 'DeepLIFT',
  description:
    'Each pixel’s share of f(x) − f(reference), passed down by the rescale rule (Δoutput/Δinput per unit instead of the gradient): signed, and it adds up exactly to the score difference.',
  needsLayer: false,
  async explain(req: ExplainRequest<DeepLiftOptions>) {
    const targets = resolveTargets(req.model, req);
    const o = req.options ?? {};
    const spec = o.baseline ?? 'zeros';
    const ref = referenceFor(req.input, spec, o.seed ?? 0);
    const attr = deepliftAttributions(req.model, req.input, ref, targets, o.eps);
    const fx = targetScores(req.model, req.input, targets);
    const fRef = targetScores(req.model, ref, targets);
    const maps = tf.tidy(() => tf.sum(attr, 3) as tf.Tensor3D);
    try {
      return await finish('deeplift', maps, targets, true, {
        meta: { baseline: describeBaselines(spec), ...(await completeness(attr, fx, fRef)) },
      });
    } finally {
      tf.dispose([ref, attr, fx, fRef, maps]);
    }
  },
};
