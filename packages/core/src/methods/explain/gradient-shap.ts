/**
 * GradientSHAP (Lundberg & Lee; Captum's GradientShap) and the estimator it shares with expected
 * gradients (Erion et al. 2021): for each sample draw a reference b from a distribution and a point
 * on the segment from b to the input (optionally with Gaussian noise on the input), and average
 * ∇f(point) ⊙ (x − b). In expectation the attributions sum to f(x) − E[f(b)]; on a linear model
 * every sample is exact, and the meta reports the gap against the references actually drawn.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed } from '../../data/rng.ts';
import { type BaselineSpec, baselineSample, describeBaselines, randomPick } from './baselines.ts';
import { finish, resolveTargets } from './common.ts';
import { targetScores } from './deeplift.ts';
import { gradientBatch, sampleCount, sumOverSamples } from './sampled-gradients.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

export interface GradientShapOptions {
  /**
   * Reference distribution: 'noise' (default: fresh seeded uniform noise over the input's range per
   * sample), 'zeros', 'blur', 'mean', or reference images [K, H, W, C] drawn from uniformly.
   */
  baselines?: BaselineSpec;
  /** Samples averaged (defaults per method, larger on inputs up to 64 pixels a side). */
  samples?: number;
  /** Gaussian noise on the input as a fraction of its value range (GradientSHAP default 0.09; expected gradients 0). */
  noise?: number;
  /** Points per gradient call (default 64 on small inputs, 8 above). */
  batch?: number;
  seed?: number;
}

/** Attributions, reference scores and completeness of the estimator, one method id and noise default apart. */
export async function expectedGradientsExplain(
  id: string,
  req: ExplainRequest<GradientShapOptions>,
  defaults: { small: number; large: number; noise: number },
): Promise<Explanation> {
  const targets = resolveTargets(req.model, req);
  const o = req.options ?? {};
  const x = req.input;
  const n = x.shape[0];
  const samples = sampleCount('samples', o.samples, x, defaults.small, defaults.large);
  const level = o.noise ?? defaults.noise;
  if (!(level >= 0)) throw new Error(`noise must be ≥ 0, got ${level}`);
  const seed = o.seed ?? 0;
  const spec = o.baselines ?? 'noise';
  const pick = typeof spec === 'string' ? undefined : randomPick(spec.shape[0], seed);
  const [lo, hi] = tf.tidy(() => [x.min().dataSync()[0], x.max().dataSync()[0]]);
  const sigma = level * Math.max(hi - lo, 1e-6);
  const [sum, refScores] = sumOverSamples(
    req.model,
    targets,
    samples,
    gradientBatch(o.batch, x),
    (k) => {
      const b = baselineSample(x, spec, k, seed, pick);
      const rng = createRng(mixSeed(seed, k, 1));
      const t = tf.tensor4d(
        Array.from({ length: n }, () => rng()),
        [n, 1, 1, 1],
      );
      const noisy =
        sigma > 0 ? tf.add(x, tf.randomNormal(x.shape, 0, sigma, 'float32', mixSeed(seed, k, 2))) : x;
      return { point: tf.add(b, tf.mul(t, tf.sub(noisy, b))) as tf.Tensor4D, context: b };
    },
    (_, g, s) => {
      const b = s.context as tf.Tensor4D;
      return [tf.mul(g, tf.sub(x, b)), targetScores(req.model, b, targets)];
    },
  );
  const attr = tf.tidy(() => tf.div(sum, samples) as tf.Tensor4D);
  const maps = tf.tidy(() => tf.sum(attr, 3) as tf.Tensor3D);
  const fx = targetScores(req.model, x, targets);
  try {
    const sums = tf.tidy(() => tf.sum(attr, [1, 2, 3]));
    const [s, f, r] = await Promise.all([sums.data(), fx.data(), refScores.data()]);
    sums.dispose();
    const diff = Array.from(f, (v, i) => v - r[i] / samples);
    return await finish(id, maps, targets, true, {
      meta: {
        samples,
        noise: level,
        baselines: describeBaselines(spec),
        attributionSum: Array.from(s),
        // f(x) − the mean score of the references drawn: what the sum estimates.
        scoreDifference: diff,
        convergenceDelta: Array.from(s, (v, i) => v - diff[i]),
      },
    });
  } finally {
    tf.dispose([sum, refScores, attr, maps, fx]);
  }
}

export const gradientShap: ExplainMethod<GradientShapOptions> = {
  id: 'gradient-shap',
  title: 'GradientSHAP',
  description:
    'Gradients at random points between random references and a noisy copy of the input, times (input − reference), averaged: an estimate of SHAP values whose sum approaches f(x) − E[f(reference)].',
  needsLayer: false,
  explain: (req) => expectedGradientsExplain('gradient-shap', req, { small: 25, large: 8, noise: 0.09 }),
};
