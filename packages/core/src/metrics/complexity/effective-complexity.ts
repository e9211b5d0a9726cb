/**
 * Effective complexity (Nguyen & Martínez, 2020; Quantus `EffectiveComplexity`): how many pixels have a
 * non-negligible attribution, |a| / max|a| > eps. Reported as a fraction of the pixels so maps of
 * different sizes compare; lower: fewer pixels to look at.
 */
import { dims, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

export interface EffectiveComplexityOptions {
  /** Threshold on |a| / max|a| (default 1e-5, Quantus' eps on its max-normalised maps). */
  eps?: number;
}

/** Fraction of pixels with |a| > eps·max|a|; NaN for an all-zero map. */
export function effectiveFraction(values: ArrayLike<number>, eps = 1e-5): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  if (!(max > 0)) return Number.NaN;
  let k = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) > eps * max) k++;
  return k / values.length;
}

export const effectiveComplexity: Metric<EffectiveComplexityOptions> = {
  id: 'effective-complexity',
  title: 'Effective complexity',
  family: 'complexity',
  description:
    'Fraction of pixels whose |attribution| exceeds eps × the map maximum (Nguyen & Martínez). Lower means fewer pixels matter.',
  higherIsBetter: false,
  needs: { model: false, region: false, explain: false },
  cost: 'no forward passes',
  async compute(ctx, options = {}) {
    dims(ctx, 'effective-complexity');
    const eps = options.eps ?? 1e-5;
    if (!(eps >= 0)) throw new Error(`effective-complexity: eps must be ≥ 0, got ${eps}`);
    return resultOf(
      'effective-complexity',
      ctx.maps.map((m) => effectiveFraction(m, eps)),
      { eps },
    );
  },
};
