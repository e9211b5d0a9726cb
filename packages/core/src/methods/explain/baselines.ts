/**
 * Reference inputs ("baselines") for the methods that attribute f(x) − f(reference): DeepLIFT, its
 * SHAP average, GradientSHAP and expected gradients. One reference per input ('zeros', a blurred
 * copy, the image's mean colour, seeded uniform noise over the input's range), or a distribution of
 * them: the same kinds, or reference images the caller passes (e.g. held-out data).
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed } from '../../data/rng.ts';

export type BaselineKind = 'zeros' | 'blur' | 'mean' | 'noise';

export const BASELINE_KINDS: readonly BaselineKind[] = ['zeros', 'blur', 'mean', 'noise'];

/** A baseline spec: one kind, or reference images [K, H, W, C] in the model's input space. */
export type BaselineSpec = BaselineKind | tf.Tensor4D;

function checkKind(kind: string): asserts kind is BaselineKind {
  if (!BASELINE_KINDS.includes(kind as BaselineKind))
    throw new Error(
      `baseline must be one of ${BASELINE_KINDS.join(', ')} or reference images, got '${kind}'`,
    );
}

/**
 * One reference per input of x [N, H, W, C]: zeros; a box blur (side a quarter of the smaller side,
 * odd, ≥ 3: the same as integrated gradients' 'blur'); each image's mean colour; or uniform noise
 * over x's value range (seeded).
 */
export function baselineFor(x: tf.Tensor4D, kind: BaselineKind, seed = 0): tf.Tensor4D {
  checkKind(kind);
  return tf.tidy(() => {
    if (kind === 'zeros') return tf.zerosLike(x);
    if (kind === 'mean') return tf.add(tf.zerosLike(x), tf.mean(x, [1, 2], true)) as tf.Tensor4D;
    if (kind === 'noise') {
      const lo = x.min();
      return tf.add(
        lo,
        tf.mul(tf.randomUniform(x.shape, 0, 1, 'float32', seed), tf.sub(x.max(), lo)),
      ) as tf.Tensor4D;
    }
    const k = Math.max(3, Math.round(Math.min(x.shape[1], x.shape[2]) / 4) | 1);
    return tf.avgPool(x, k, 1, 'same');
  });
}

/**
 * Reference number `k` of a distribution, for every input of x: for a kind, 'noise' draws fresh
 * noise per k and the deterministic kinds repeat; for reference images, image `pick(k, i)` for input
 * i (its shape must match the inputs').
 */
export function baselineSample(
  x: tf.Tensor4D,
  spec: BaselineSpec,
  k: number,
  seed: number,
  pick: (k: number, i: number) => number = (kk) => kk,
): tf.Tensor4D {
  if (typeof spec === 'string') return baselineFor(x, spec, mixSeed(seed, k));
  checkReferences(x, spec);
  const rows = Array.from({ length: x.shape[0] }, (_, i) => pick(k, i) % spec.shape[0]);
  return tf.gather(spec, rows) as tf.Tensor4D;
}

/** Throws one line when reference images do not match the inputs' [H, W, C]. */
export function checkReferences(x: tf.Tensor4D, refs: tf.Tensor4D): void {
  const [, H, W, C] = x.shape;
  const [k, h, w, c] = refs.shape;
  if (k < 1 || h !== H || w !== W || c !== C)
    throw new Error(
      `reference images are [${refs.shape}], the inputs [${x.shape}]: need [K≥1, ${H}, ${W}, ${C}]`,
    );
}

/** How many references a spec holds ('noise' is unbounded, the other kinds one), for meta. */
export function describeBaselines(spec: BaselineSpec): string {
  return typeof spec === 'string' ? spec : `${spec.shape[0]} reference images`;
}

/** A seeded picker of reference indices: uniform over `count` references, one stream per (k, i). */
export function randomPick(count: number, seed: number): (k: number, i: number) => number {
  return (k, i) => Math.floor(createRng(mixSeed(seed, k, i))() * count);
}
