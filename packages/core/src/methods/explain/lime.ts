/**
 * LIME (Ribeiro et al.) for images, as lime_image does it: split the image into segments, switch
 * random subsets of them off (filled with a constant or the mean colour), and fit a weighted ridge
 * regression of the target probability on the on/off indicators, samples near the original image
 * (all on) weighing most. Each pixel gets its segment's coefficient: signed, in probability units.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed } from '../../data/rng.ts';
import { finish, positiveInteger, resolveTargets } from './common.ts';
import {
  coalitionOutputs,
  type SegmentOptions,
  segmentBatch,
  segmentKind,
  segmentMap,
  segmentMaps,
} from './superpixels.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';
import { type RidgeFit, weightedRidge } from './weighted-ridge.ts';

export interface LimeOptions extends SegmentOptions {
  /** Perturbed samples per input, the first one the unperturbed image (default 500). */
  samples?: number;
  /** Value of switched-off segments in the model's input space, or 'mean' for the image's mean colour (default 0). */
  fill?: number | 'mean';
  /** Perturbed copies per forward pass (default 64). */
  batch?: number;
  /** Ridge penalty (default 1, as lime's Ridge). */
  alpha?: number;
  /** Width of the exponential kernel on cosine distance (default 0.25, as lime_image). */
  kernelWidth?: number;
  /** Seed of the random on/off masks (default 0). */
  seed?: number;
}

/** `samples` random on/off rows over `m` segments, each segment on with probability ½; row 0 all on. */
export function randomMasks(m: number, samples: number, seed: number): Uint8Array[] {
  const rng = createRng(seed);
  return Array.from({ length: samples }, (_, i) =>
    i === 0 ? new Uint8Array(m).fill(1) : Uint8Array.from({ length: m }, () => (rng() < 0.5 ? 1 : 0)),
  );
}

/**
 * LIME's sample weights: sqrt(exp(−d²/width²)) with d the cosine distance of the row to all-ones
 * (lime_base's kernel); an all-off row has cosine distance 1 (sklearn's convention for a zero vector).
 */
export function limeWeights(rows: ArrayLike<number>[], kernelWidth: number): Float64Array {
  return Float64Array.from(rows, (row) => {
    let on = 0;
    for (let j = 0; j < row.length; j++) on += row[j];
    // cos(row, 1) = Σrow / (|row|·√m) = √(on / m) for a 0/1 row.
    const d = on ? 1 - Math.sqrt(on / row.length) : 1;
    return Math.sqrt(Math.exp(-(d * d) / (kernelWidth * kernelWidth)));
  });
}

/** The LIME surrogate: weighted ridge of the outputs on the on/off rows, with LIME's kernel weights. */
export function limeFit(
  rows: ArrayLike<number>[],
  y: ArrayLike<number>,
  alpha = 1,
  kernelWidth = 0.25,
): RidgeFit {
  return weightedRidge(rows, y, limeWeights(rows, kernelWidth), alpha, true);
}

/** Segment ids with the largest positive (or most negative) coefficients, at most `k`. */
export function topSegments(coef: ArrayLike<number>, sign: 1 | -1, k = 5): number[] {
  return Array.from(coef, (c, i) => [c * sign, i] as const)
    .filter(([c]) => c > 0)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

export const lime: ExplainMethod<LimeOptions> = {
  id: 'lime',
  title: 'LIME',
  description:
    'Weights of a local linear model fitted to the class probability of many copies of the input with random segments hidden: which segments push the class up (positive) or down.',
  needsLayer: false,
  async explain(req: ExplainRequest<LimeOptions>): Promise<Explanation> {
    const o = req.options ?? {};
    const targets = resolveTargets(req.model, req);
    const samples = positiveInteger('samples', o.samples ?? 500);
    const batch = positiveInteger('batch', o.batch ?? 64);
    const alpha = o.alpha ?? 1;
    const kernelWidth = o.kernelWidth ?? 0.25;
    if (!(alpha >= 0)) throw new Error(`alpha must be non-negative, got ${alpha}`);
    if (!(kernelWidth > 0)) throw new Error(`kernelWidth must be positive, got ${kernelWidth}`);
    const images = await segmentBatch(req.input, o);
    const fits: RidgeFit[] = [];
    for (let i = 0; i < images.length; i++) {
      const rows = randomMasks(images[i].seg.count, samples, mixSeed(o.seed ?? 0, i));
      const y = await coalitionOutputs(req.model, images[i], rows, targets[i], batch);
      fits.push(limeFit(rows, y, alpha, kernelWidth));
    }
    const [, H, W] = req.input.shape;
    const maps = tf.tensor3d(segmentMaps(images.map((im, i) => segmentMap(im.seg, fits[i].coef))), [
      images.length,
      H,
      W,
    ]);
    try {
      return await finish('lime', maps, targets, true, {
        meta: {
          samples,
          segmentation: segmentKind(req.input.shape[1], req.input.shape[2], o),
          fill: o.fill ?? 0,
          segments: images.map((im) => im.seg.count),
          r2: fits.map((f) => f.r2),
          intercept: fits.map((f) => f.intercept),
          coefficients: fits.map((f) => Array.from(f.coef)),
          topPositive: fits.map((f) => topSegments(f.coef, 1)),
          topNegative: fits.map((f) => topSegments(f.coef, -1)),
        },
      });
    } finally {
      maps.dispose();
    }
  },
};
