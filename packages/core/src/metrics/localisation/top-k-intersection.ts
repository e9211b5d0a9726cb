/**
 * Top-k intersection (Theiner et al., 2021; Quantus `TopKIntersection`): the fraction of the map's k
 * highest-ranked pixels that lie inside the ground-truth region, for a fixed k (Quantus: 1000 of 224²;
 * here a fraction of the pixels, default 2%, so the same option suits 28×28 digits and photos).
 */
import { dims, needRegions, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';
import { topKInside } from './relevance-rank.ts';

export interface TopKOptions {
  /** k as a number of pixels (overrides fraction). */
  k?: number;
  /** k as a fraction of the pixels (default 0.02). */
  fraction?: number;
}

export const topKIntersection: Metric<TopKOptions> = {
  id: 'top-k-intersection',
  title: 'Top-k intersection',
  family: 'localisation',
  description:
    'Fraction of the k highest-ranked pixels (default 2% of the image) inside the ground-truth region (Theiner et al.).',
  higherIsBetter: true,
  needs: { model: false, region: true, explain: false },
  cost: 'no forward passes',
  async compute(ctx, options = {}) {
    const { H, W } = dims(ctx, 'top-k-intersection');
    const regions = needRegions(ctx, 'top-k-intersection');
    const k = options.k ?? Math.max(1, Math.round((options.fraction ?? 0.02) * H * W));
    if (!(Number.isInteger(k) && k >= 1 && k <= H * W))
      throw new Error(`top-k-intersection: k must be an integer in 1…${H * W}, got ${k}`);
    return resultOf(
      'top-k-intersection',
      ctx.maps.map((m, i) => topKInside(m, regions[i], k)),
      { k },
    );
  },
};
