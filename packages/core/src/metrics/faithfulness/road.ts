/**
 * ROAD (Rong et al., 2022) as a metric: remove the most (MoRF) or least (LeRF) relevant fraction of
 * pixels with noisy linear imputation (methods/faithfulness/road.ts) and report per input ROAD-combined
 * as pytorch-grad-cam defines it, the mean over fractions of (LeRF score − MoRF score) / 2, i.e. half
 * the gap between the two areas. Higher is better. `rank: 'abs'` ranks pixels by |a|, 'signed' (default)
 * by value, so negative evidence (IG on a dark background) is removed last.
 */
import { areaOver, type RoadOptions, road } from '../../methods/faithfulness/road.ts';
import { dims, needModel, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

export const roadMetric: Metric<Omit<RoadOptions, 'seed' | 'batch'>> = {
  id: 'road',
  title: 'ROAD (combined)',
  family: 'faithfulness',
  description:
    'Half the gap between the score when the least and when the most relevant pixels are removed and imputed from their neighbours (Rong et al.; pytorch-grad-cam’s ROAD-combined). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  // The imputation (conjugate gradients over the removed region) dominates: about 0.1 s per input on
  // 28×28 digits, but minutes per input on 224×224 photos with a contiguous ranked region removed.
  cost: '2 × fractions forwards and imputation solves per input (18): slow on 224×224',
  async compute(ctx, o = {}) {
    dims(ctx, 'road');
    const r = await road(needModel(ctx, 'road'), ctx.input, ctx.targets, ctx.maps, {
      ...o,
      seed: ctx.seed ?? 1,
      batch: ctx.batch,
    });
    const morfAuc = r.morf.map((c) => areaOver(r.fractions, c));
    const lerfAuc = r.lerf.map((c) => areaOver(r.fractions, c));
    return resultOf(
      'road',
      morfAuc.map((m, i) => (lerfAuc[i] - m) / 2),
      {
        rank: o.rank ?? 'signed',
        fractions: r.fractions,
        morfAuc,
        lerfAuc,
        meanMorf: r.meanMorf,
        meanLerf: r.meanLerf,
      },
    );
  },
};
