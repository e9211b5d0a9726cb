/**
 * Model parameter randomisation (Adebayo et al., 2018; Quantus `MPRT`): re-explain with a copy of the
 * model whose weights are re-drawn (scale-preserving Gaussian, methods/faithfulness/randomization.ts)
 * and compare with the original map by Spearman ρ. A map that survives the model's destruction does not
 * explain what the model learned: lower is better. Default: every layer at once (one re-explanation);
 * `cascade: true` randomises top-down layer by layer (one re-explanation per layer) and reports each
 * step in the detail, as the existing sanity check does.
 */
import { createRng } from '../../data/rng.ts';
import { cloneModel, randomizeLayer } from '../../methods/faithfulness/randomization.ts';
import { spearman } from '../../methods/faithfulness/rank-correlation.ts';
import { dims, meanOf, needExplain, needModel, resultOf } from '../common.ts';
import type { Metric } from '../types.ts';

export const modelRandomisation: Metric<{ cascade?: boolean }> = {
  id: 'model-randomisation',
  title: 'Model parameter randomisation',
  family: 'randomisation',
  description:
    'Spearman ρ between the map and the map of a weight-randomised copy of the model (Adebayo et al.): near 1 means the map ignores what the model learned. Lower is better.',
  higherIsBetter: false,
  needs: { model: true, region: false, explain: true },
  cost: '1 re-explanation of the batch (cascade: one per weighted layer)',
  async compute(ctx, o = {}) {
    dims(ctx, 'model-randomisation');
    const model = needModel(ctx, 'model-randomisation');
    const explain = needExplain(ctx, 'model-randomisation');
    const rng = createRng(ctx.seed ?? 1);
    const clone = await cloneModel(model);
    const steps: { layer: string; correlation: number }[] = [];
    let last: number[] = [];
    try {
      const layers = clone.layers.filter((l) => l.getWeights().length > 0).reverse();
      for (const [k, layer] of layers.entries()) {
        randomizeLayer(layer, rng);
        if (!o.cascade && k < layers.length - 1) continue;
        const maps = await explain({ input: ctx.input, targets: ctx.targets, model: clone });
        last = ctx.maps.map((m, i) => spearman(m, maps[i]));
        steps.push({ layer: layer.name, correlation: meanOf(last) });
      }
    } finally {
      clone.dispose();
    }
    return resultOf('model-randomisation', last, { steps });
  },
};
