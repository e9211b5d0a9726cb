/**
 * Activation maximization, batched: one image per objective, all optimized together in one batch
 * (objectives are independent per image, so this equals running them one by one with the same seed).
 * Loss per image = −objective + tv·TotalVariation + lp·LPNorm (keras-vis), on the image as the model
 * sees it after this step's random transform. A long job (core jobs/job.ts): progress per step, a stop
 * request honoured between steps (the result so far is returned), and optional previews for live views.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed } from '../../data/rng.ts';
import type { Standardizer } from '../../data/standardize.ts';
import type { JobHooks } from '../../jobs/job.ts';
import type { Preprocess } from '../../preprocess/presets.ts';
import { makeOptimizer, OPTIMIZERS, type OptimizerName } from '../../train/optimizers.ts';
import { yieldToEventLoop } from '../../train/yield.ts';
import { modelInput } from './model-input.ts';
import { compileObjectives, type Objective } from './objective.ts';
import {
  fourierParameterization,
  PARAMETERIZATIONS,
  type Parameterization,
  type ParameterizationName,
  pixelParameterization,
} from './parameterization.ts';
import { cppnParameterization } from './parameterization-cppn.ts';
import { lpNorm, totalVariation, totalVariationOf } from './regularizers.ts';
import { applyTransform, drawTransform, gaussianBlur, type TransformOptions } from './transforms.ts';

export interface MaximizeOptions extends TransformOptions {
  /** Optimization steps (default 256). */
  steps?: number;
  /** Learning rate (default 0.05: pixels in [0, 1] move at most ~0.05 per Adam step). */
  learningRate?: number;
  /** Optimizer (default adam). */
  optimizer?: OptimizerName;
  /** Total-variation weight (keras-vis TotalVariation semantics; default 1). */
  tvWeight?: number;
  /** TotalVariation beta (default 2). */
  tvBeta?: number;
  /** LPNorm weight (default 0). */
  lpWeight?: number;
  /** LPNorm p (default 6, keras-vis). */
  lpP?: number;
  /** Input range of the images, before any standardization (default [0, 1]). */
  range?: [number, number];
  /** Clip the (pixel-parameterized) images to the range after every step (default true). */
  clip?: boolean;
  /** Blur the images every N steps (0 = never). */
  blurEvery?: number;
  /** Blur strength in pixels (default 0.5). */
  blurSigma?: number;
  parameterization?: ParameterizationName;
  /** Colour decorrelation for fourier on RGB (default true). */
  decorrelate?: boolean;
  /** Fourier spectrum decay: frequency f learns at 1/f^decay (Lucid's decay_power; default 1). */
  decay?: number;
  /** Seed for the start noise and the transforms (default 0). */
  seed?: number;
  /** Start image (H·W·C floats in the range) instead of noise; every objective starts from it. */
  start?: Float32Array;
  /** Amplitude of the uniform start noise around the range's middle, as a fraction of the range (default 0.2). */
  noise?: number;
  /** Per-pixel standardization the model was trained with; applied inside the graph. */
  standardizer?: Standardizer;
  /**
   * The model's own preprocessing (any preset): images are then [0, 1] pixels and become the model's
   * input inside the graph. Replaces `range` and `standardizer`.
   */
  preprocess?: Preprocess;
  /**
   * Lucid's diversity: weight of the Gram-matrix penalty among images with the same objective (Σ over
   * pairs of the cosine of their Gram matrices at `diversityLayer`, / group size). With it each image
   * starts from its own noise, so copies of one objective can move apart. Default 0.
   */
  diversity?: number;
  /** Each image starts from its own noise (default: with diversity only). */
  distinctStarts?: boolean;
  /** Layer whose Gram matrices the diversity penalty compares (required with diversity). */
  diversityLayer?: string;
  /** CPPN size (with parameterization 'cppn'): hidden units and layers (default 24 and 8, as Lucid). */
  cppnHidden?: number;
  cppnLayers?: number;
  /** Live previews: `show` gets the result so far every `every` steps (costs one forward pass each). */
  preview?: { every: number; show(result: MaximizeResult): void };
}

/** Every option with its default filled in: recorded with results. */
export type ResolvedOptions = Required<
  Omit<
    MaximizeOptions,
    'start' | 'standardizer' | 'preprocess' | 'preview' | 'jitter' | 'scale' | 'rotate' | 'diversityLayer'
  >
> & {
  jitter: number;
  scale: number;
  rotate: number;
  start: 'noise' | 'image';
  diversityLayer: string | null;
};

export interface MaximizeResult {
  /** One H·W·C image per objective, in the input range (before standardization; [0, 1] with `preprocess`). */
  images: Float32Array[];
  /** One H·W·C model input per objective: exactly what the reported objective and probabilities are of. */
  inputs: Float32Array[];
  shape: [number, number, number];
  /** Final objective per image, on the untransformed result (the value maximized; for minimize, the raw value). */
  objective: number[];
  /** Objective per image per step (on that step's transformed image, before the update). */
  curves: number[][];
  /** Softmax probabilities of the result per image (all classes). */
  probabilities: number[][];
  /** Per image: the probability of its first class term's class (null when it has none). */
  targetProbability: (number | null)[];
  /** Predicted class per image. */
  predicted: number[];
  /** keras-vis total variation of each result. */
  totalVariation: number[];
  options: ResolvedOptions;
  /** Wall time of the optimization loop. */
  seconds: number;
  /** Steps taken: options.steps, or fewer when stopped. */
  stepsDone: number;
  /** True when shouldStop() ended the optimization early. */
  stopped: boolean;
}

export const DEFAULTS = {
  steps: 256,
  learningRate: 0.05,
  optimizer: 'adam' as OptimizerName,
  tvWeight: 1,
  tvBeta: 2,
  lpWeight: 0,
  lpP: 6,
  range: [0, 1] as [number, number],
  clip: true,
  blurEvery: 0,
  blurSigma: 0.5,
  parameterization: 'pixel' as ParameterizationName,
  decorrelate: true,
  decay: 1,
  seed: 0,
  noise: 0.2,
  jitter: 0,
  scale: 0,
  rotate: 0,
  diversity: 0,
  distinctStarts: false,
  cppnHidden: 24,
  cppnLayers: 8,
};

function resolve(o: MaximizeOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    ...DEFAULTS,
    start: o.start ? 'image' : 'noise',
    diversityLayer: o.diversityLayer ?? null,
  };
  r.distinctStarts = o.distinctStarts ?? (o.diversity ?? 0) > 0;
  for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    if (o[k] !== undefined) (r as Record<string, unknown>)[k] = o[k];
  }
  const check = (ok: boolean, msg: string) => {
    if (!ok) throw new Error(msg);
  };
  check(Number.isInteger(r.steps) && r.steps >= 1, `steps must be a positive integer, got ${r.steps}`);
  check(
    r.learningRate > 0 && Number.isFinite(r.learningRate),
    `learning rate must be > 0, got ${r.learningRate}`,
  );
  check(
    OPTIMIZERS.includes(r.optimizer),
    `unknown optimizer '${r.optimizer}' (valid: ${OPTIMIZERS.join(', ')})`,
  );
  check(
    PARAMETERIZATIONS.includes(r.parameterization),
    `unknown parameterization '${r.parameterization}' (valid: ${PARAMETERIZATIONS.join(', ')})`,
  );
  for (const k of [
    'tvWeight',
    'lpWeight',
    'jitter',
    'scale',
    'rotate',
    'noise',
    'decay',
    'diversity',
  ] as const)
    check(Number.isFinite(r[k]) && r[k] >= 0, `${k} must be a finite number ≥ 0, got ${r[k]}`);
  check(r.tvBeta > 0 && r.lpP > 0, 'tvBeta and lpP must be > 0');
  check(r.scale < 1, `scale must be < 1, got ${r.scale}`);
  check(
    Number.isInteger(r.blurEvery) && r.blurEvery >= 0,
    `blurEvery must be an integer ≥ 0, got ${r.blurEvery}`,
  );
  check(r.blurSigma > 0, `blurSigma must be > 0, got ${r.blurSigma}`);
  check(r.range[0] < r.range[1], `range must be [low, high] with low < high, got [${r.range}]`);
  check(r.diversity === 0 || r.diversityLayer !== null, 'diversity needs a layer (diversityLayer)');
  if (r.parameterization === 'cppn') {
    check(!o.start, 'the cppn parameterization cannot start from an image');
    check(r.blurEvery === 0, 'the cppn parameterization cannot take blur steps');
    for (const k of ['cppnHidden', 'cppnLayers'] as const)
      check(Number.isInteger(r[k]) && r[k] >= 1, `${k} must be a positive integer, got ${r[k]}`);
  }
  if (o.preprocess) {
    check(
      !o.standardizer && (!o.range || (o.range[0] === 0 && o.range[1] === 1)),
      'preprocess replaces range and standardizer: give one or the other',
    );
    r.range = [0, 1];
  }
  return r;
}

/** Throws when a start image has the wrong size or any NaN/infinite value (naming the first one). */
export function checkStartImage(img: Float32Array, h: number, w: number, c: number): void {
  if (img.length !== h * w * c) {
    throw new Error(`start image has ${img.length} values, the model expects ${h}×${w}×${c} = ${h * w * c}`);
  }
  for (let i = 0; i < img.length; i++) {
    if (!Number.isFinite(img[i])) {
      const p = Math.floor(i / c);
      throw new Error(
        `start image contains a non-finite value (${img[i]}) at row ${Math.floor(p / w)}, column ${p % w}`,
      );
    }
  }
}

function startImages(
  batch: number,
  h: number,
  w: number,
  c: number,
  r: ResolvedOptions,
  start?: Float32Array,
) {
  const size = h * w * c;
  const one = new Float32Array(size);
  const [lo, hi] = r.range;
  if (start) {
    checkStartImage(start, h, w, c);
    for (let i = 0; i < size; i++) one[i] = Math.min(hi, Math.max(lo, start[i]));
  } else {
    // The same noise for every image: batched and one-by-one runs then start identically.
    const rng = createRng(mixSeed(r.seed, 1));
    const mid = (lo + hi) / 2;
    for (let i = 0; i < size; i++) one[i] = mid + (rng() - 0.5) * r.noise * (hi - lo);
  }
  const all = new Float32Array(batch * size);
  for (let b = 0; b < batch; b++) all.set(one, b * size);
  if (r.distinctStarts && !start) {
    // Diversity: each image its own noise (identical copies would get identical gradients forever).
    const mid = (lo + hi) / 2;
    for (let b = 1; b < batch; b++) {
      const rng = createRng(mixSeed(r.seed, 1, b));
      for (let i = 0; i < size; i++) all[b * size + i] = mid + (rng() - 0.5) * r.noise * (hi - lo);
    }
  }
  return tf.tensor4d(all, [batch, h, w, c]);
}

/** The model's input shape [H, W, C]. */
export function inputShapeOf(model: tf.LayersModel): [number, number, number] {
  const s = model.inputs[0].shape;
  if (s.length !== 4 || s.slice(1).some((d) => d === null)) {
    throw new Error(`activation maximization needs an image model with a fixed input shape, got [${s}]`);
  }
  return s.slice(1) as [number, number, number];
}

/**
 * Synthesizes one image per objective. Hooks: onProgress(step, steps, {objective: mean}) after every
 * step; shouldStop() before every step, ending early with the result so far (stopped: true). Leaves no
 * tensors behind.
 */
export async function maximize(
  model: tf.LayersModel,
  objectives: Objective[],
  options: MaximizeOptions = {},
  hooks: JobHooks = {},
): Promise<MaximizeResult> {
  const r = resolve(options);
  const [h, w, c] = inputShapeOf(model);
  const B = objectives.length;
  const compiled = compileObjectives(model, objectives, {
    taps: r.diversity > 0 && r.diversityLayer ? [r.diversityLayer] : [],
  });
  const groups = diversityGroups(objectives);
  const std = options.standardizer;
  const pre = options.preprocess ? modelInput(options.preprocess, [h, w, c]) : null;
  const param: Parameterization =
    r.parameterization === 'fourier'
      ? fourierParameterization(B, h, w, c, { range: r.range, decorrelate: r.decorrelate, decay: r.decay })
      : r.parameterization === 'cppn'
        ? cppnParameterization(B, h, w, c, {
            range: r.range,
            hidden: r.cppnHidden,
            layers: r.cppnLayers,
            seed: r.seed,
            distinct: r.distinctStarts,
          })
        : pixelParameterization(B, h, w, c);
  const mean = std ? tf.tensor4d(std.mean, [1, h, w, c]) : null;
  const invStd = std
    ? tf.tensor4d(
        std.std.map((s) => 1 / s),
        [1, h, w, c],
      )
    : null;
  const toModel = (img: tf.Tensor4D): tf.Tensor4D =>
    pre ? pre.apply(img) : mean && invStd ? img.sub(mean).mul(invStd) : img;

  let variable: tf.Variable | null = null;
  let optimizer: tf.Optimizer | null = null;
  try {
    // Validate and build the start before any tensor that needs freeing in a loop.
    const init = param.init
      ? param.init()
      : tf.tidy(() => param.fromImage(startImages(B, h, w, c, r, options.start)));
    variable = tf.variable(init, true);
    init.dispose();
    optimizer = makeOptimizer({ name: r.optimizer, learningRate: r.learningRate });
    const rng = createRng(mixSeed(r.seed, 2));
    const curves: number[][] = objectives.map(() => []);
    const v = variable;
    const t0 = performance.now();
    let done = 0;
    const partial = (stopped: boolean) =>
      finish(model, objectives, compiled, param, v, toModel, curves, r, [h, w, c], {
        seconds: (performance.now() - t0) / 1000,
        stepsDone: done,
        stopped,
      });
    for (let step = 1; step <= r.steps; step++) {
      if (hooks.shouldStop?.()) return partial(true);
      const t = drawTransform(rng, h, w, r);
      let values: Float32Array = new Float32Array(0);
      tf.tidy(() => {
        let objective: tf.Tensor1D | null = null;
        const { grads } = tf.variableGrads(() => {
          const img = param.toImage(v);
          // Kept: the gradient's own forward scope would dispose it; freed right after reading.
          const out = compiled.forward(toModel(applyTransform(img, t)));
          objective = tf.keep(out.value);
          let loss: tf.Tensor = objective.neg();
          if (r.diversity > 0) loss = loss.add(diversityPenalty(out.taps[0], groups).mul(r.diversity));
          if (r.tvWeight > 0) loss = loss.add(totalVariation(img, r.tvBeta).mul(r.tvWeight));
          if (r.lpWeight > 0) loss = loss.add(lpNorm(img, r.lpP).mul(r.lpWeight));
          return loss.sum() as tf.Scalar;
        }, [v]);
        optimizer!.applyGradients(grads);
        const o = objective as tf.Tensor1D | null;
        if (o) {
          values = o.dataSync() as Float32Array;
          o.dispose();
        }
        if (param.needsClip && r.clip) v.assign(v.clipByValue(r.range[0], r.range[1]));
        if (r.blurEvery > 0 && step % r.blurEvery === 0 && step < r.steps) {
          v.assign(param.fromImage(gaussianBlur(param.toImage(v), r.blurSigma)));
        }
      });
      // Report the signed objective (raw value): undo the minimize sign folded into the weights.
      let sum = 0;
      for (let b = 0; b < B; b++) {
        const signed = objectives[b].minimize ? -values[b] : values[b];
        curves[b].push(signed);
        sum += signed;
      }
      done = step;
      hooks.onProgress?.(step, r.steps, { objective: Number((sum / B).toPrecision(4)) });
      const pv = options.preview;
      if (pv && pv.every > 0 && step % pv.every === 0 && step < r.steps) pv.show(partial(false));
      // Let a stop request, a progress timer or a page event land between steps.
      if (step % 8 === 0 || hooks.shouldStop || pv) await yieldToEventLoop();
    }
    return partial(false);
  } finally {
    variable?.dispose();
    optimizer?.dispose();
    compiled.dispose();
    param.dispose();
    pre?.dispose();
    mean?.dispose();
    invStd?.dispose();
  }
}

function finish(
  model: tf.LayersModel,
  objectives: Objective[],
  compiled: ReturnType<typeof compileObjectives>,
  param: Parameterization,
  v: tf.Variable,
  toModel: (x: tf.Tensor4D) => tf.Tensor4D,
  curves: number[][],
  options: ResolvedOptions,
  shape: [number, number, number],
  run: { seconds: number; stepsDone: number; stopped: boolean },
): MaximizeResult {
  const [h, w, c] = shape;
  const size = h * w * c;
  let pixels: Float32Array = new Float32Array(0);
  let inputs: Float32Array = new Float32Array(0);
  let obj: Float32Array = new Float32Array(0);
  let probs: Float32Array = new Float32Array(0);
  // Returns nothing: tidy would otherwise walk the typed arrays looking for tensors.
  tf.tidy(() => {
    let img = param.toImage(v);
    if (param.needsClip && options.clip) img = tf.clipByValue(img, options.range[0], options.range[1]);
    const x = toModel(img);
    pixels = img.dataSync() as Float32Array;
    inputs = x.dataSync() as Float32Array;
    obj = compiled.apply(x).dataSync() as Float32Array;
    probs = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  });
  const k = probs.length / objectives.length;
  const images = objectives.map((_, b) => pixels.slice(b * size, (b + 1) * size));
  const modelInputs = objectives.map((_, b) => inputs.slice(b * size, (b + 1) * size));
  const probabilities = objectives.map((_, b) => Array.from(probs.subarray(b * k, (b + 1) * k)));
  return {
    images,
    inputs: modelInputs,
    shape,
    // Copies: a preview's curves must not grow with later steps.
    curves: curves.map((cv) => cv.slice()),
    objective: objectives.map((o, b) => (o.minimize ? -obj[b] : obj[b])),
    probabilities,
    targetProbability: objectives.map((o, b) => {
      const t = o.terms.find((x) => x.kind === 'class');
      return t ? probabilities[b][t.index] : null;
    }),
    predicted: probabilities.map((p) => p.indexOf(Math.max(...p))),
    totalVariation: images.map((img) => totalVariationOf(img, h, w, c, options.tvBeta)),
    options,
    ...run,
  };
}

/** Batch indices grouped by identical objective: the diversity penalty acts within each group. */
export function diversityGroups(objectives: Objective[]): number[][] {
  const byKey = new Map<string, number[]>();
  objectives.forEach((o, b) => {
    const key = JSON.stringify(o);
    byKey.set(key, [...(byKey.get(key) ?? []), b]);
  });
  return [...byKey.values()];
}

/**
 * Lucid's diversity penalty per image [B]: each image's Gram matrix (channels × channels over positions)
 * L2-normalized, and Σ over the other images of its group of the dot product (the cosine of the two
 * Gram matrices), divided by the group's size. Summed over the batch it is Lucid's objective.
 */
export function diversityPenalty(acts: tf.Tensor, groups: number[][]): tf.Tensor1D {
  return tf.tidy(() => {
    const b = acts.shape[0];
    const ch = acts.shape[acts.shape.length - 1];
    const flat = acts.reshape([b, -1, ch]) as tf.Tensor3D;
    const grams = tf.matMul(flat, flat, true, false).reshape([b, ch * ch]);
    const unit = grams.div(grams.norm(2, 1, true).add(1e-10)) as tf.Tensor2D;
    const sims = tf.matMul(unit, unit, false, true); // [B, B] cosines
    const mask = new Float32Array(b * b);
    for (const g of groups) for (const i of g) for (const j of g) if (i !== j) mask[i * b + j] = 1 / g.length;
    return sims.mul(tf.tensor2d(mask, [b, b])).sum(1) as tf.Tensor1D;
  });
}

/** Mean pairwise cosine similarity of the images' flattened activations (the diversity check). */
export function meanPairwiseCosine(acts: Float32Array[]): number {
  let sum = 0;
  let n = 0;
  const norms = acts.map((a) => Math.sqrt(a.reduce((s, v) => s + v * v, 0)) || 1);
  for (let i = 0; i < acts.length; i++) {
    for (let j = i + 1; j < acts.length; j++) {
      let d = 0;
      for (let k = 0; k < acts[i].length; k++) d += acts[i][k] * acts[j][k];
      sum += d / (norms[i] * norms[j]);
      n++;
    }
  }
  return n ? sum / n : 1;
}
