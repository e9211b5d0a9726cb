/**
 * Sparseness (Chalasani et al., 2020; Quantus `Sparseness`): the Gini index of |a|. 0 when every pixel
 * carries the same relevance, (n−1)/n → 1 when one pixel carries all of it. Higher: a more concentrated
 * (easier to read) map.
 */
import { dims, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

/** Gini index of |values|; NaN for an all-zero (or NaN) map. */
export function gini(values: ArrayLike<number>): number {
  const a = Float64Array.from(values, (v) => Math.abs(v)).sort();
  const n = a.length;
  let total = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    total += a[i];
    weighted += (2 * (i + 1) - n - 1) * a[i];
  }
  return total > 0 ? weighted / (n * total) : Number.NaN;
}

export const sparseness: Metric = {
  id: 'sparseness',
  title: 'Sparseness (Gini)',
  family: 'complexity',
  description:
    'Gini index of the absolute map (Chalasani et al.): 0 for a flat map, near 1 when a few pixels carry all relevance. Higher is sparser.',
  higherIsBetter: true,
  needs: { model: false, region: false, explain: false },
  cost: 'no forward passes',
  async compute(ctx) {
    dims(ctx, 'sparseness');
    return resultOf('sparseness', ctx.maps.map(gini));
  },
};
