/**
 * Local Lipschitz estimate (Alvarez-Melis & Jaakkola, 2018; Quantus `LocalLipschitzEstimate`):
 * re-explain the input under small Gaussian noise (seeded, σ = `radius` × the input range) and report
 * max_k ‖a − a_k‖₂ / ‖x − x_k‖₂. Lower is better; in map units per input unit, so compare methods whose
 * maps share a scale (or normalise maps first).
 */
import { dims, needExplain, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';
import { explainUnderNoise, l2Distance, type NoiseOptions } from './noise.ts';

export const localLipschitz: Metric<NoiseOptions> = {
  id: 'local-lipschitz',
  title: 'Local Lipschitz estimate',
  family: 'robustness',
  description:
    'Largest ratio ‖a − a′‖/‖x − x′‖ of map change to input change under small Gaussian noise (Alvarez-Melis & Jaakkola). Lower is better.',
  higherIsBetter: false,
  needs: { model: false, region: false, explain: true },
  cost: 'samples re-explanations of the batch (5)',
  async compute(ctx, o = {}) {
    dims(ctx, 'local-lipschitz');
    const run = await explainUnderNoise(
      ctx.input,
      ctx.targets,
      needExplain(ctx, 'local-lipschitz'),
      'gaussian',
      ctx.seed ?? 1,
      o,
    );
    const values = ctx.maps.map((a, i) =>
      Math.max(...run.maps.map((m, k) => l2Distance(a, m[i]) / run.inputDistance[k][i])),
    );
    return resultOf('local-lipschitz', values, { samples: run.maps.length, radius: o.radius ?? 0.02 });
  },
};
