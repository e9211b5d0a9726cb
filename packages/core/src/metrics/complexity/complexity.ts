/**
 * Complexity (Bhatt et al., 2020; Quantus `Complexity`): the Shannon entropy of the map's fractional
 * contributions |a_i| / Σ|a|. log n for a flat map, 0 when one pixel carries everything. Lower: a
 * simpler map.
 */
import { dims, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

/** Entropy (natural log) of |values| normalised to sum 1; NaN for an all-zero map. */
export function attributionEntropy(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += Math.abs(values[i]);
  if (!(total > 0)) return Number.NaN;
  let h = 0;
  for (let i = 0; i < values.length; i++) {
    const p = Math.abs(values[i]) / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

export const complexity: Metric = {
  id: 'complexity',
  title: 'Complexity (entropy)',
  family: 'complexity',
  description:
    'Entropy of the fractional contributions |a|/Σ|a| (Bhatt et al.): log(pixels) for a flat map, 0 for a single pixel. Lower is simpler.',
  higherIsBetter: false,
  needs: { model: false, region: false, explain: false },
  cost: 'no forward passes',
  async compute(ctx) {
    dims(ctx, 'complexity');
    return resultOf('complexity', ctx.maps.map(attributionEntropy));
  },
};
