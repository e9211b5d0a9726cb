/**
 * Pixel flipping / deletion (Bach et al., 2015; Petsiuk et al., 2018; Quantus `PixelFlipping`): remove
 * pixels most-relevant first, in `steps` chunks, and take the area under the target-score curve. A
 * faithful map makes the score fall fast: lower is better.
 */
import { dims, needModel, type RankBy, rankOrder, resultOf, type ScoreKind } from '../common.ts';
import type { Metric } from '../types.ts';
import { evenAuc, perturbationCurves } from './curves.ts';

export interface CurveMetricOptions {
  /** Chunks of pixels (default 20). */
  steps?: number;
  /** Rank by signed value (default) or by |a|. */
  rank?: RankBy;
  /** Model output (default) or logits. */
  score?: ScoreKind;
}

export const deletion: Metric<CurveMetricOptions> = {
  id: 'deletion',
  title: 'Pixel flipping (deletion)',
  family: 'faithfulness',
  description:
    'Area under the target score as the most relevant pixels are removed first (Bach et al.; Petsiuk et al.). Lower is better.',
  higherIsBetter: false,
  needs: { model: true, region: false, explain: false },
  cost: 'steps + 1 forwards per input (21)',
  async compute(ctx, o = {}) {
    dims(ctx, 'deletion');
    const curves = await perturbationCurves({
      model: needModel(ctx, 'deletion'),
      input: ctx.input,
      targets: ctx.targets,
      orders: ctx.maps.map((m) => rankOrder(m, o.rank)),
      steps: o.steps,
      fill: ctx.fill,
      mode: 'delete',
      batch: ctx.batch,
      score: o.score,
    });
    return resultOf('deletion', curves.map(evenAuc), { curves });
  },
};

export const insertion: Metric<CurveMetricOptions> = {
  id: 'insertion',
  title: 'Insertion',
  family: 'faithfulness',
  description:
    'Area under the target score as the most relevant pixels are revealed first on a blank (fill) image (Petsiuk et al.). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: 'steps + 1 forwards per input (21)',
  async compute(ctx, o = {}) {
    dims(ctx, 'insertion');
    const curves = await perturbationCurves({
      model: needModel(ctx, 'insertion'),
      input: ctx.input,
      targets: ctx.targets,
      orders: ctx.maps.map((m) => rankOrder(m, o.rank)),
      steps: o.steps,
      fill: ctx.fill,
      mode: 'insert',
      batch: ctx.batch,
      score: o.score,
    });
    return resultOf('insertion', curves.map(evenAuc), { curves });
  },
};
