/**
 * Methods built on the gradient of the target score with respect to the input: vanilla saliency
 * (Simonyan et al.), gradient × input, SmoothGrad (Smilkov et al.) and integrated gradients
 * (Sundararajan et al.).
 */
import * as tf from '@tensorflow/tfjs';
import { baselineFor } from './baselines.ts';
import { finish, resolveTargets, scores, targetScore } from './common.ts';
import type { ExplainMethod, ExplainRequest } from './types.ts';

/** d(target score)/d(input), [N, H, W, C]. */
export function inputGradients(model: tf.LayersModel, x: tf.Tensor4D, targets: number[]): tf.Tensor4D {
  return tf.grad((inp: tf.Tensor) => targetScore(scores(model, inp), targets))(x) as tf.Tensor4D;
}

const maxAbsOverChannels = (g: tf.Tensor4D) => tf.max(tf.abs(g), 3) as tf.Tensor3D;

export const saliency: ExplainMethod = {
  id: 'saliency',
  title: 'Saliency',
  description:
    'Absolute gradient of the class score with respect to each pixel (max over channels): which pixels would change the score most if nudged.',
  needsLayer: false,
  async explain(req) {
    const targets = resolveTargets(req.model, req);
    const maps = tf.tidy(() => maxAbsOverChannels(inputGradients(req.model, req.input, targets)));
    try {
      return await finish('saliency', maps, targets, false);
    } finally {
      maps.dispose();
    }
  },
};

export const gradientTimesInput: ExplainMethod = {
  id: 'gradient-x-input',
  title: 'Gradient × input',
  description:
    'Gradient times pixel value, summed over channels: a first-order estimate of each pixel’s contribution (signed).',
  needsLayer: false,
  async explain(req) {
    const targets = resolveTargets(req.model, req);
    const maps = tf.tidy(
      () => tf.sum(tf.mul(inputGradients(req.model, req.input, targets), req.input), 3) as tf.Tensor3D,
    );
    try {
      return await finish('gradient-x-input', maps, targets, true);
    } finally {
      maps.dispose();
    }
  },
};

export interface SmoothGradOptions {
  /** Noise standard deviation as a fraction of the input's value range (default 0.15). */
  noise?: number;
  /** Noisy samples averaged (default 25). */
  samples?: number;
  seed?: number;
}

export const smoothgrad: ExplainMethod<SmoothGradOptions> = {
  id: 'smoothgrad',
  title: 'SmoothGrad',
  description:
    'Saliency averaged over noisy copies of the input: the noise washes out the gradient’s pixel-level jitter and keeps the structure.',
  needsLayer: false,
  async explain(req: ExplainRequest<SmoothGradOptions>) {
    const targets = resolveTargets(req.model, req);
    const samples = req.options?.samples ?? 25;
    const level = req.options?.noise ?? 0.15;
    if (!(Number.isInteger(samples) && samples >= 1))
      throw new Error(`samples must be a positive integer, got ${samples}`);
    if (!(level >= 0)) throw new Error(`noise must be ≥ 0, got ${level}`);
    const seed = req.options?.seed ?? 0;
    const [lo, hi] = tf.tidy(() => [req.input.min().dataSync()[0], req.input.max().dataSync()[0]]);
    const sigma = level * Math.max(hi - lo, 1e-6);
    let acc = tf.zeros(req.input.shape.slice(0, 3) as [number, number, number]) as tf.Tensor3D;
    for (let s = 0; s < samples; s++) {
      const next = tf.tidy(() => {
        const noisy = tf.add(
          req.input,
          tf.randomNormal(req.input.shape, 0, sigma, 'float32', seed + s),
        ) as tf.Tensor4D;
        return tf.add(acc, maxAbsOverChannels(inputGradients(req.model, noisy, targets))) as tf.Tensor3D;
      });
      acc.dispose();
      acc = next;
    }
    const maps = tf.tidy(() => tf.div(acc, samples) as tf.Tensor3D);
    acc.dispose();
    try {
      return await finish('smoothgrad', maps, targets, false, { meta: { samples, noise: level, sigma } });
    } finally {
      maps.dispose();
    }
  },
};

export interface IntegratedGradientsOptions {
  /** Interpolation steps (default 64). */
  steps?: number;
  /** Baseline: 'zeros' (default), 'blur' (a box-blurred input) or 'noise' (seeded uniform in the input's range). */
  baseline?: 'zeros' | 'blur' | 'noise';
  /** Riemann rule: 'middle' (default), 'left', 'right', 'trapezoid'; or Gauss–Legendre. */
  rule?: 'middle' | 'left' | 'right' | 'trapezoid' | 'gauss-legendre';
  seed?: number;
  /**
   * Path points per gradient pass (default 32; 8 above 128×128 pixels; at least one step per input): the steps are independent,
   * and one pass over many points costs far less than as many passes over one (kernel dispatch and
   * per-op overhead dominate small batches on big models).
   */
  batch?: number;
}

/** Nodes in [0, 1] and weights summing to 1 for the path integral. */
export function quadrature(
  rule: NonNullable<IntegratedGradientsOptions['rule']>,
  m: number,
): { t: number[]; w: number[] } {
  if (rule === 'gauss-legendre') return gaussLegendre(m);
  if (rule === 'trapezoid') {
    const t = Array.from({ length: m + 1 }, (_, k) => k / m);
    return { t, w: t.map((_, k) => (k === 0 || k === m ? 0.5 : 1) / m) };
  }
  const shift = rule === 'left' ? 0 : rule === 'right' ? 1 : 0.5;
  return { t: Array.from({ length: m }, (_, k) => (k + shift) / m), w: new Array(m).fill(1 / m) };
}

/** Gauss–Legendre nodes on [0, 1] (Newton on Legendre polynomials). */
function gaussLegendre(m: number): { t: number[]; w: number[] } {
  const t: number[] = [];
  const w: number[] = [];
  for (let i = 1; i <= m; i++) {
    let x = Math.cos((Math.PI * (i - 0.25)) / (m + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= m; k++) {
        const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (m * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    t.push((1 - x) / 2);
    w.push(1 / ((1 - x * x) * dp * dp));
  }
  return { t, w };
}

export const integratedGradients: ExplainMethod<IntegratedGradientsOptions> = {
  id: 'ig',
  title: 'Integrated gradients',
  description:
    'Gradients averaged along the straight path from a baseline to the input, times (input − baseline): attributions that sum to f(input) − f(baseline) (completeness; the reported delta measures how well).',
  needsLayer: false,
  async explain(req: ExplainRequest<IntegratedGradientsOptions>) {
    const targets = resolveTargets(req.model, req);
    const steps = req.options?.steps ?? 64;
    if (!(Number.isInteger(steps) && steps >= 1))
      throw new Error(`steps must be a positive integer, got ${steps}`);
    const rule = req.options?.rule ?? 'middle';
    const { t, w } = quadrature(rule, steps);
    const x = req.input;
    const base = baselineFor(x, req.options?.baseline ?? 'zeros', req.options?.seed ?? 0);
    const [N, H, W, C] = x.shape;
    // Measured on MobileNet 0.25 at 224²: 32 steps one at a time 3.2 s, 8 per pass 1.7–2.1 s, 16 or 32
    // no faster but a first pass several seconds slower (memory growth); small inputs batch freely.
    const batch = req.options?.batch ?? (H * W > 128 * 128 ? 8 : 32);
    if (!(Number.isInteger(batch) && batch >= 1))
      throw new Error(`batch must be a positive integer, got ${batch}`);
    const per = Math.max(1, Math.floor(batch / N));
    let avg = tf.zerosLike(x) as tf.Tensor4D;
    for (let k0 = 0; k0 < t.length; k0 += per) {
      const ks = t.slice(k0, k0 + per);
      const next = tf.tidy(() => {
        // Points of steps k0… for every input, step-major: row j·N + n is input n at step k0 + j.
        const diff = tf.sub(x, base);
        const points = tf.concat(
          ks.map((tk) => tf.add(base, tf.mul(diff, tk))),
          0,
        ) as tf.Tensor4D;
        const g = inputGradients(
          req.model,
          points,
          ks.flatMap(() => targets),
        );
        const weights = tf.tensor1d(w.slice(k0, k0 + ks.length)).reshape([ks.length, 1, 1, 1, 1]);
        const sum = tf.sum(tf.mul(g.reshape([ks.length, N, H, W, C]), weights), 0);
        return tf.add(avg, sum) as tf.Tensor4D;
      });
      avg.dispose();
      avg = next;
    }
    const [attr, fx, fb] = tf.tidy(() => {
      const a = tf.mul(tf.sub(x, base), avg);
      const pick = (inp: tf.Tensor) => {
        const s = scores(req.model, inp);
        return tf.sum(tf.mul(s, tf.oneHot(tf.tensor1d(targets, 'int32'), s.shape[1])), 1);
      };
      return [a, pick(x), pick(base)];
    });
    avg.dispose();
    const maps = tf.tidy(() => tf.sum(attr, 3) as tf.Tensor3D);
    try {
      const sums = tf.tidy(() => tf.sum(attr, [1, 2, 3]).dataSync());
      const [fxv, fbv] = await Promise.all([fx.data(), fb.data()]);
      const delta = Array.from(sums, (s, i) => s - (fxv[i] - fbv[i]));
      return await finish('ig', maps, targets, true, {
        meta: {
          steps,
          rule,
          baseline: req.options?.baseline ?? 'zeros',
          attributionSum: Array.from(sums),
          scoreDifference: Array.from(fxv, (v, i) => v - fbv[i]),
          convergenceDelta: delta,
        },
      });
    } finally {
      tf.dispose([attr, fx, fb, base, maps]);
    }
  },
};

export const INPUT_GRADIENT_METHODS: ExplainMethod<any>[] = [
  saliency,
  gradientTimesInput,
  smoothgrad,
  integratedGradients,
];
