/**
 * Relevance mass accuracy (Arras et al., 2022; Quantus `RelevanceMassAccuracy`): the share of the map's
 * total positive relevance that falls inside the ground-truth region. 1 when all relevance is inside.
 * Negative evidence is not mass: signed maps count their positive part (Arras et al. use positive
 * relevance only), unsigned maps count as they are.
 */
import { dims, needRegions, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

export function relevanceMass(map: Float32Array, region: Uint8Array): number {
  let inside = 0;
  let total = 0;
  for (let i = 0; i < map.length; i++) {
    const v = map[i] > 0 ? map[i] : 0;
    total += v;
    if (region[i]) inside += v;
  }
  return total > 0 && region.some((r) => r > 0) ? inside / total : Number.NaN;
}

export const relevanceMassAccuracy: Metric = {
  id: 'relevance-mass',
  title: 'Relevance mass accuracy',
  family: 'localisation',
  description:
    'Share of the positive relevance that lies inside the ground-truth region (Arras et al.): 1 when all of it is inside.',
  higherIsBetter: true,
  needs: { model: false, region: true, explain: false },
  cost: 'no forward passes',
  async compute(ctx) {
    dims(ctx, 'relevance-mass');
    const regions = needRegions(ctx, 'relevance-mass');
    return resultOf(
      'relevance-mass',
      ctx.maps.map((m, i) => relevanceMass(m, regions[i])),
    );
  },
};
