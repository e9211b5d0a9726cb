/**
 * Sufficiency (Dasgupta et al., 2022; Quantus `Sufficiency`): inputs whose explanations are close should
 * get the same prediction. Per input: among the inputs of the batch whose max-normalised maps lie within
 * `threshold` (root-mean-square distance, so the threshold means the same on 28×28 and 224×224; Quantus
 * uses a plain Euclidean distance), itself included, the share predicted as the same class. Needs a
 * batch of several inputs. Higher is better.
 */
import { allScores, dims, needModel, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

const argmax = (v: Float32Array) => v.reduce((b, x, i) => (x > v[b] ? i : b), 0);

function normalised(m: Float32Array): Float32Array {
  let max = 0;
  for (const v of m) if (!Number.isNaN(v)) max = Math.max(max, Math.abs(v));
  return Float32Array.from(m, (v) => (Number.isNaN(v) || max === 0 ? 0 : v / max));
}

export const sufficiency: Metric<{ threshold?: number }> = {
  id: 'sufficiency',
  title: 'Sufficiency',
  family: 'faithfulness',
  description:
    'Among inputs with nearly the same map (RMS distance below a threshold), the share with the same predicted class (Dasgupta et al.). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: 'one forward per input; N² map distances',
  async compute(ctx, o = {}) {
    const { N } = dims(ctx, 'sufficiency');
    const threshold = o.threshold ?? 0.2;
    const preds = (await allScores(needModel(ctx, 'sufficiency'), ctx.input, { batch: ctx.batch })).map(
      argmax,
    );
    const maps = ctx.maps.map(normalised);
    const values = maps.map((a, i) => {
      let near = 0;
      let same = 0;
      for (let j = 0; j < N; j++) {
        let d = 0;
        for (let p = 0; p < a.length; p++) d += (a[p] - maps[j][p]) ** 2;
        if (Math.sqrt(d / a.length) <= threshold) {
          near++;
          if (preds[j] === preds[i]) same++;
        }
      }
      return same / near;
    });
    return resultOf('sufficiency', values, { threshold, predictions: preds });
  },
};
