/**
 * Completeness (Sundararajan et al., 2017; Quantus `Completeness`): attributions of IG, DeepLIFT and
 * KernelSHAP should sum to f(x) − f(baseline). Per input: the gap |Σa − (f(x) − f(baseline))| with the
 * baseline the all-fill image (IG's 'zeros' baseline at fill 0) and f the logits (what those methods
 * explain). 0 for IG on a linear model. Lower is better; only meaningful for methods that claim it.
 */
import * as tf from '@tensorflow/tfjs';
import { allScores, dims, needModel, resultOf, type ScoreKind } from '../common.ts';
import type { Metric } from '../types.ts';

export const completeness: Metric<{ score?: ScoreKind }> = {
  id: 'completeness',
  title: 'Completeness gap',
  family: 'axiomatic',
  description:
    'Gap between the sum of the attributions and f(input) − f(baseline) (Sundararajan et al.); 0 for methods that satisfy completeness. Lower is better.',
  higherIsBetter: false,
  needs: { model: true, region: false, explain: false },
  cost: '2 forwards per input',
  async compute(ctx, o = {}) {
    const { N } = dims(ctx, 'completeness');
    const model = needModel(ctx, 'completeness');
    const score = o.score ?? 'logits';
    const base = tf.fill(ctx.input.shape, ctx.fill ?? 0) as tf.Tensor4D;
    let fx: Float32Array[];
    let fb: Float32Array[];
    try {
      fx = await allScores(model, ctx.input, { batch: ctx.batch, score });
      fb = await allScores(model, base, { batch: ctx.batch, score });
    } finally {
      base.dispose();
    }
    const sums = ctx.maps.map((m) => m.reduce((a, v) => a + (Number.isNaN(v) ? 0 : v), 0));
    const delta = Array.from({ length: N }, (_, i) => fx[i][ctx.targets[i]] - fb[i][ctx.targets[i]]);
    return resultOf(
      'completeness',
      sums.map((s, i) => Math.abs(s - delta[i])),
      { attributionSum: sums, scoreDifference: delta, score },
    );
  },
};
