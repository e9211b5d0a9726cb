/**
 * KernelSHAP (Lundberg & Lee) over image segments, following the shap library's KernelExplainer:
 * coalitions of segments (the rest filled in) sampled by the Shapley kernel, whole coalition sizes
 * enumerated while the budget allows, and a weighted least-squares fit with the efficiency
 * constraint Σφ = f(x) − f(all hidden) built in by eliminating one variable. With enough samples
 * to enumerate every coalition the values are the exact Shapley values of the segments.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed, type Rng } from '../../data/rng.ts';
import { finish, resolveTargets } from './common.ts';
import {
  coalitionOutputs,
  type SegmentOptions,
  segmentBatch,
  segmentKind,
  segmentMap,
  segmentMaps,
} from './superpixels.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';
import { weightedRidge } from './weighted-ridge.ts';

export interface KernelShapOptions extends SegmentOptions {
  /** Coalitions evaluated per input, besides the full and the empty one (default 2·M + 2048, as shap). */
  samples?: number;
  /** Value of hidden segments in the model's input space, or 'mean' for the image's mean colour (default 0). */
  fill?: number | 'mean';
  /** Copies per forward pass (default 64). */
  batch?: number;
  /** Seed of the coalition sampling (default 0). */
  seed?: number;
}

/** Coalitions (1 = segment present) with their regression weights. */
export interface Coalitions {
  rows: Uint8Array[];
  weights: number[];
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** Calls `visit` with every k-subset of 0..m-1 (indices ascending, lexicographic order). */
function forEachSubset(m: number, k: number, visit: (idx: number[]) => void): void {
  const idx = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    visit(idx);
    let i = k - 1;
    while (i >= 0 && idx[i] === m - k + i) i--;
    if (i < 0) return;
    idx[i]++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1] + 1;
  }
}

/** Random k-subset of 0..m-1 (partial Fisher–Yates). */
function randomSubset(m: number, k: number, rng: Rng): number[] {
  const p = Array.from({ length: m }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (m - i));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p.slice(0, k);
}

const rowOf = (m: number, idx: number[]) => {
  const r = new Uint8Array(m);
  for (const i of idx) r[i] = 1;
  return r;
};
const complement = (r: Uint8Array) => r.map((v) => 1 - v);

/**
 * shap's coalition plan for m features and a budget of `samples`: the Shapley kernel puts weight
 * (m−1)/(s(m−s)) on each size s (shared by its C(m,s) coalitions). Sizes s and m−s are paired;
 * from the outside in, a size pair is enumerated completely while the budget covers it at its
 * kernel weight; the remaining weight is spread over randomly drawn coalitions (size by the
 * kernel, each with its complement), repeats adding weight instead of rows.
 */
export function shapCoalitions(m: number, samples: number, seed: number): Coalitions {
  const rows: Uint8Array[] = [];
  const weights: number[] = [];
  if (m < 2) return { rows, weights };
  const sizes = Math.ceil((m - 1) / 2);
  const paired = Math.floor((m - 1) / 2);
  const kernel = Array.from(
    { length: sizes },
    (_, i) => ((m - 1) / ((i + 1) * (m - i - 1))) * (i < paired ? 2 : 1),
  );
  const total = kernel.reduce((a, b) => a + b, 0);
  const weightOf = kernel.map((k) => k / total);
  let left = samples;
  let remaining = [...weightOf];
  let full = 0;
  for (let s = 1; s <= sizes; s++) {
    const isPaired = s <= paired;
    const count = binomial(m, s) * (isPaired ? 2 : 1);
    if (!((left * remaining[s - 1]) / count >= 1 - 1e-8)) break;
    full++;
    left -= count;
    if (remaining[s - 1] < 1) remaining = remaining.map((w) => w / (1 - remaining[s - 1]));
    const w = weightOf[s - 1] / count;
    forEachSubset(m, s, (idx) => {
      const r = rowOf(m, idx);
      rows.push(r);
      weights.push(w);
      if (isPaired) {
        rows.push(complement(r));
        weights.push(w);
      }
    });
  }
  if (full === sizes || left <= 0) return { rows, weights };
  const fixed = rows.length;
  // Draw sizes by the kernel weight of the sizes not enumerated (halved for pairs: each draw adds two).
  const rest = weightOf.slice(full).map((w, i) => (full + i < paired ? w / 2 : w));
  const restSum = rest.reduce((a, b) => a + b, 0);
  const rng = createRng(seed);
  const index = new Map<string, number>();
  const add = (r: Uint8Array) => {
    const key = r.join('');
    const at = index.get(key);
    if (at !== undefined) weights[at] += 1;
    else {
      index.set(key, rows.length);
      rows.push(r);
      weights.push(1);
      left--;
    }
  };
  for (let tries = 0; left > 0 && tries < 4 * samples; tries++) {
    let u = rng() * restSum;
    let i = 0;
    while (i < rest.length - 1 && u >= rest[i]) u -= rest[i++];
    const s = full + i + 1;
    const r = rowOf(m, randomSubset(m, s, rng));
    add(r);
    if (left > 0 && s <= paired) add(complement(r));
  }
  // The sampled rows share the kernel weight of the sizes not enumerated.
  const sampled = weights.slice(fixed).reduce((a, b) => a + b, 0);
  const weightLeft = weightOf.slice(full).reduce((a, b) => a + b, 0);
  for (let i = fixed; i < weights.length; i++) weights[i] *= weightLeft / sampled;
  return { rows, weights };
}

/**
 * Shapley values from coalition outputs y, with Σφ = fx − f0 exact: φ_last = (fx − f0) − Σ other φ,
 * substituted into the weighted least squares (as shap's KernelExplainer.solve).
 */
export function shapSolve(
  m: number,
  c: Coalitions,
  y: ArrayLike<number>,
  fx: number,
  f0: number,
): Float64Array {
  const delta = fx - f0;
  if (m === 1 || !c.rows.length)
    return m === 1 ? Float64Array.of(delta) : new Float64Array(m).fill(delta / m);
  const last = m - 1;
  const x = c.rows.map((r) => Float64Array.from({ length: last }, (_, j) => r[j] - r[last]));
  const yAdj = Float64Array.from(c.rows, (r, i) => y[i] - f0 - r[last] * delta);
  const { coef } = weightedRidge(x, yAdj, c.weights, 0, false);
  const phi = new Float64Array(m);
  phi.set(coef);
  phi[last] = delta - coef.reduce((a, b) => a + b, 0);
  return phi;
}

interface ShapResult {
  phi: Float64Array;
  fx: number;
  base: number;
  evaluations: number;
}

export const kernelShap: ExplainMethod<KernelShapOptions> = {
  id: 'kernel-shap',
  title: 'KernelSHAP',
  description:
    'Shapley values of image segments estimated from coalitions of segments (the others hidden), weighted by the Shapley kernel: signed contributions that add up to f(x) − f(all hidden).',
  needsLayer: false,
  async explain(req: ExplainRequest<KernelShapOptions>): Promise<Explanation> {
    const o = req.options ?? {};
    const targets = resolveTargets(req.model, req);
    const batch = o.batch ?? 64;
    if (!(Number.isInteger(batch) && batch >= 1))
      throw new Error(`batch must be a positive integer, got ${batch}`);
    if (o.samples !== undefined && !(Number.isInteger(o.samples) && o.samples >= 1))
      throw new Error(`samples must be a positive integer, got ${o.samples}`);
    const images = await segmentBatch(req.input, o);
    const results: ShapResult[] = [];
    for (let i = 0; i < images.length; i++) {
      const m = images[i].seg.count;
      const plan = shapCoalitions(m, o.samples ?? 2 * m + 2048, mixSeed(o.seed ?? 0, i));
      const ends = [new Uint8Array(m).fill(1), new Uint8Array(m)];
      const y = await coalitionOutputs(req.model, images[i], [...ends, ...plan.rows], targets[i], batch);
      const [fx, base] = [y[0], y[1]];
      results.push({ phi: shapSolve(m, plan, y.subarray(2), fx, base), fx, base, evaluations: y.length });
    }
    const [, H, W] = req.input.shape;
    const maps = tf.tensor3d(segmentMaps(images.map((im, i) => segmentMap(im.seg, results[i].phi))), [
      images.length,
      H,
      W,
    ]);
    try {
      return await finish('kernel-shap', maps, targets, true, {
        meta: {
          segmentation: segmentKind(H, W, o),
          fill: o.fill ?? 0,
          segments: images.map((im) => im.seg.count),
          evaluations: results.map((r) => r.evaluations),
          baseValue: results.map((r) => r.base),
          fx: results.map((r) => r.fx),
          attributionSum: results.map((r) => r.phi.reduce((a, b) => a + b, 0)),
          // Σφ − (f(x) − f(all hidden)): zero up to rounding, by construction.
          efficiencyGap: results.map((r) => r.phi.reduce((a, b) => a + b, 0) - (r.fx - r.base)),
          shapValues: results.map((r) => Array.from(r.phi)),
        },
      });
    } finally {
      maps.dispose();
    }
  },
};
