/**
 * Faithfulness correlation (Bhatt et al., 2020; Quantus `FaithfulnessCorrelation`): remove random
 * subsets of pixels (set to the fill) and correlate (Pearson) the relevance each subset held with the
 * score drop it caused. 1: the map predicts the effect of removing any subset. Higher is better.
 */
import { createRng, permutation } from '../../data/rng.ts';
import { pearson } from '../../methods/faithfulness/rank-correlation.ts';
import { dims, needModel, pixelsOf, resultOf, type ScoreKind, ScoreQueue } from '../common.ts';
import type { Metric } from '../types.ts';

export interface FaithfulnessCorrelationOptions {
  /** Random subsets per input (default 50; Quantus 100). */
  runs?: number;
  /** Pixels per subset (default Quantus' 224, at most half the image). */
  subset?: number;
  score?: ScoreKind;
}

export const faithfulnessCorrelation: Metric<FaithfulnessCorrelationOptions> = {
  id: 'faithfulness-correlation',
  title: 'Faithfulness correlation',
  family: 'faithfulness',
  description:
    'Pearson correlation between the relevance of random pixel subsets and the score drop when they are removed (Bhatt et al.). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: 'runs + 1 forwards per input (51)',
  async compute(ctx, o = {}) {
    const { N, H, W, C } = dims(ctx, 'faithfulness-correlation');
    const model = needModel(ctx, 'faithfulness-correlation');
    const runs = o.runs ?? 50;
    const subset = o.subset ?? Math.min(224, Math.floor((H * W) / 2));
    if (!(Number.isInteger(runs) && runs >= 2))
      throw new Error(`faithfulness-correlation: runs must be ≥ 2, got ${runs}`);
    if (!(Number.isInteger(subset) && subset >= 1 && subset <= H * W))
      throw new Error(`faithfulness-correlation: subset must be an integer in 1…${H * W}, got ${subset}`);
    const fill = ctx.fill ?? 0;
    const rng = createRng(ctx.seed ?? 1);
    const x = await pixelsOf(ctx.input);
    const size = H * W * C;
    const queue = new ScoreQueue(model, [H, W, C], { batch: ctx.batch, score: o.score });
    const held: number[][] = [];
    for (let i = 0; i < N; i++) {
      const img = x.subarray(i * size, (i + 1) * size);
      await queue.push(img, ctx.targets[i]);
      const sums: number[] = [];
      for (let r = 0; r < runs; r++) {
        const pick = permutation(H * W, rng).subarray(0, subset);
        const cur = Float32Array.from(img);
        let s = 0;
        for (const p of pick) {
          cur.fill(fill, p * C, (p + 1) * C);
          if (!Number.isNaN(ctx.maps[i][p])) s += ctx.maps[i][p];
        }
        sums.push(s);
        await queue.push(cur, ctx.targets[i]);
      }
      held.push(sums);
    }
    const y = await queue.flush();
    const values = held.map((sums, i) => {
      const base = y[i * (runs + 1)];
      const drops = sums.map((_, r) => base - y[i * (runs + 1) + 1 + r]);
      return pearson(sums, drops);
    });
    return resultOf('faithfulness-correlation', values, { runs, subset });
  },
};
