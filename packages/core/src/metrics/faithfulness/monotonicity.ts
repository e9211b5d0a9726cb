/**
 * Monotonicity (Arya et al., 2019; Quantus `Monotonicity`): start from the fill image and add pixels
 * back least-relevant first, in `steps` chunks; a faithful map makes the target score rise at every
 * step. Per input: the fraction of steps where the score did not fall (1 = Quantus' "monotonic").
 * Higher is better.
 */
import { dims, needModel, rankOrder, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';
import { perturbationCurves } from './curves.ts';
import type { CurveMetricOptions } from './deletion.ts';

export const monotonicity: Metric<CurveMetricOptions & { tolerance?: number }> = {
  id: 'monotonicity',
  title: 'Monotonicity',
  family: 'faithfulness',
  description:
    'Pixels are added to a blank image least relevant first; the share of steps where the target score does not fall (Arya et al.; 1 = monotonic). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: 'steps + 1 forwards per input (21)',
  async compute(ctx, o = {}) {
    dims(ctx, 'monotonicity');
    // Least relevant first = the reverse of the relevance ranking.
    const orders = ctx.maps.map((m) => rankOrder(m, o.rank).reverse());
    const curves = await perturbationCurves({
      model: needModel(ctx, 'monotonicity'),
      input: ctx.input,
      targets: ctx.targets,
      orders,
      steps: o.steps,
      fill: ctx.fill,
      mode: 'insert',
      batch: ctx.batch,
      score: o.score,
    });
    const tol = o.tolerance ?? 1e-6;
    const values = curves.map((c) => {
      let up = 0;
      for (let k = 1; k < c.length; k++) if (c[k] >= c[k - 1] - tol) up++;
      return up / (c.length - 1);
    });
    return resultOf('monotonicity', values, { curves });
  },
};
