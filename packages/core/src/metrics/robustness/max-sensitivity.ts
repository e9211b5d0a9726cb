/**
 * Max-sensitivity (Yeh et al., 2019; Quantus `MaxSensitivity`): re-explain the input under small
 * uniform noise (seeded, `radius` × the input range) and report the largest relative change of the map,
 * max_k ‖a − a_k‖ / ‖a‖. Lower is better (a stable explanation).
 */
import { dims, needExplain, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';
import { explainUnderNoise, l2Distance, l2Norm, type NoiseOptions } from './noise.ts';

export const maxSensitivity: Metric<NoiseOptions> = {
  id: 'max-sensitivity',
  title: 'Max-sensitivity',
  family: 'robustness',
  description:
    'Largest relative change of the map, ‖a − a′‖/‖a‖, when the input gets small uniform noise (Yeh et al.). Lower is better.',
  higherIsBetter: false,
  needs: { model: false, region: false, explain: true },
  cost: 'samples re-explanations of the batch (5)',
  async compute(ctx, o = {}) {
    dims(ctx, 'max-sensitivity');
    const run = await explainUnderNoise(
      ctx.input,
      ctx.targets,
      needExplain(ctx, 'max-sensitivity'),
      'uniform',
      ctx.seed ?? 1,
      o,
    );
    const values = ctx.maps.map((a, i) => {
      const n = l2Norm(a);
      if (!(n > 0)) return Number.NaN;
      return Math.max(...run.maps.map((m) => l2Distance(a, m[i]) / n));
    });
    return resultOf('max-sensitivity', values, { samples: run.maps.length, radius: o.radius ?? 0.02 });
  },
};
