/**
 * Relevance rank accuracy (Arras et al., 2022; Quantus `RelevanceRankAccuracy`): with K the region's
 * size in pixels, the fraction of the map's K highest-ranked pixels that lie inside the region. 1 when
 * the region is exactly the top of the ranking.
 */
import { dims, needRegions, rankOrder, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

/** Fraction of the top-k pixels (k = |region| by default) inside the region; NaN for an empty region. */
export function topKInside(map: Float32Array, region: Uint8Array, k?: number): number {
  let size = 0;
  for (const r of region) if (r) size++;
  const K = Math.min(k ?? size, map.length);
  if (size === 0 || K === 0) return Number.NaN;
  const order = rankOrder(map);
  let hits = 0;
  for (let j = 0; j < K; j++) if (region[order[j]]) hits++;
  return hits / K;
}

export const relevanceRankAccuracy: Metric = {
  id: 'relevance-rank',
  title: 'Relevance rank accuracy',
  family: 'localisation',
  description:
    'Of the K highest-ranked pixels, K being the ground-truth region’s size, the fraction inside the region (Arras et al.).',
  higherIsBetter: true,
  needs: { model: false, region: true, explain: false },
  cost: 'no forward passes',
  async compute(ctx) {
    dims(ctx, 'relevance-rank');
    const regions = needRegions(ctx, 'relevance-rank');
    return resultOf(
      'relevance-rank',
      ctx.maps.map((m, i) => topKInside(m, regions[i])),
    );
  },
};
