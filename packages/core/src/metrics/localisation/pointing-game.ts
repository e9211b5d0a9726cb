/**
 * Pointing game (Zhang et al., 2018; Quantus `PointingGame`) over a ground-truth region mask: 1 when the
 * map's maximum lies inside the region, else 0. Boxes become masks through regions.ts, so the box-based
 * pointingHit in methods/faithfulness gives the same answer.
 */
import { dims, needRegions, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

/** 1 when the (first) maximum of the map is inside the region, 0 outside, NaN for an all-NaN map or an empty region. */
export function pointingHitMask(map: Float32Array, region: Uint8Array): number {
  let best = -1;
  for (let i = 0; i < map.length; i++)
    if (!Number.isNaN(map[i]) && (best < 0 || map[i] > map[best])) best = i;
  if (best < 0 || !region.some((v) => v > 0)) return Number.NaN;
  return region[best] ? 1 : 0;
}

export const pointingGameMetric: Metric = {
  id: 'pointing-game',
  title: 'Pointing game',
  family: 'localisation',
  description:
    'Hit (1) when the map’s maximum falls inside the ground-truth region, else 0 (Zhang et al.); the mean is the hit rate.',
  higherIsBetter: true,
  needs: { model: false, region: true, explain: false },
  cost: 'no forward passes',
  async compute(ctx) {
    dims(ctx, 'pointing-game');
    const regions = needRegions(ctx, 'pointing-game');
    return resultOf(
      'pointing-game',
      ctx.maps.map((m, i) => pointingHitMask(m, regions[i])),
    );
  },
};
