/**
 * Random logit test (Sixt et al., 2020; Quantus `RandomLogit`): explain each input for a different,
 * randomly drawn (seeded) class and compare with the map of its own target by SSIM of the max-abs
 * normalised maps. A map that looks the same whatever class is asked for is not class-specific: lower
 * is better.
 */
import { createRng, randInt } from '../../data/rng.ts';
import { dims, needExplain, needModel, resultOf } from '../common.ts';
import { maxAbsNormalised, ssim } from '../similarity.ts';
import type { Metric } from '../types.ts';

export const randomLogit: Metric<{ classes?: number }> = {
  id: 'random-logit',
  title: 'Random logit',
  family: 'randomisation',
  description:
    'SSIM between the map for the target class and the map for a random other class (Sixt et al.): near 1 means the map is not about the class. Lower is better.',
  higherIsBetter: false,
  needs: { model: true, region: false, explain: true },
  cost: '1 re-explanation of the batch',
  async compute(ctx, o = {}) {
    const { H, W } = dims(ctx, 'random-logit');
    const model = needModel(ctx, 'random-logit');
    const classes = o.classes ?? (model.outputs[0].shape as number[])[1] ?? 0;
    if (classes < 2) throw new Error(`random-logit needs a model with at least 2 classes, got ${classes}`);
    const rng = createRng(ctx.seed ?? 1);
    const other = ctx.targets.map((t) => (t + 1 + randInt(rng, classes - 1)) % classes);
    const maps = await needExplain(ctx, 'random-logit')({ input: ctx.input, targets: other });
    const values = ctx.maps.map((m, i) => ssim(maxAbsNormalised(m), maxAbsNormalised(maps[i]), H, W));
    return resultOf('random-logit', values, { classes: other });
  },
};
