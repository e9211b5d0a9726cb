/**
 * Sufficiency (Dasgupta et al., 2022; Quantus `Sufficiency`): inputs whose explanations are close should
 * get the same prediction. Per input: among the inputs of the batch whose maps lie within `threshold`
 * in cosine distance 1 − cos(a, b) (itself included), the share predicted as the same class. Quantus
 * uses a Euclidean distance with threshold 0.6, which on sparse maps of 784 or 50,176 pixels makes
 * every input its own only neighbour (always 1) or, rescaled per pixel, everyone a neighbour; the
 * cosine distance does not depend on the map's size or scale. Needs a batch of several inputs.
 * Higher is better.
 */
import { allScores, dims, needModel, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

const argmax = (v: Float32Array) => v.reduce((b, x, i) => (x > v[b] ? i : b), 0);

/** The map scaled to unit length (NaN → 0), so a dot product is a cosine. */
function unit(m: Float32Array): Float32Array {
  let s = 0;
  for (const v of m) if (!Number.isNaN(v)) s += v * v;
  const n = Math.sqrt(s);
  return Float32Array.from(m, (v) => (Number.isNaN(v) || n === 0 ? 0 : v / n));
}

export const sufficiency: Metric<{ threshold?: number }> = {
  id: 'sufficiency',
  title: 'Sufficiency',
  family: 'faithfulness',
  description:
    'Among inputs with nearly the same map (cosine distance below a threshold), the share with the same predicted class (Dasgupta et al.). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: 'one forward per input; N² map distances',
  async compute(ctx, o = {}) {
    const { N } = dims(ctx, 'sufficiency');
    const threshold = o.threshold ?? 0.5;
    const preds = (await allScores(needModel(ctx, 'sufficiency'), ctx.input, { batch: ctx.batch })).map(
      argmax,
    );
    const maps = ctx.maps.map(unit);
    const values = maps.map((a, i) => {
      let near = 0;
      let same = 0;
      for (let j = 0; j < N; j++) {
        let dot = 0;
        for (let p = 0; p < a.length; p++) dot += a[p] * maps[j][p];
        if (1 - dot <= threshold || i === j) {
          near++;
          if (preds[j] === preds[i]) same++;
        }
      }
      return same / near;
    });
    return resultOf('sufficiency', values, { threshold, predictions: preds });
  },
};
