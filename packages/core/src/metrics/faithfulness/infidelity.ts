/**
 * Infidelity (Yeh et al., 2019; Quantus `Infidelity`, Captum `infidelity`): perturb the input by
 * removing one square patch at a time (set to the fill, I = x − fill on the patch) and compare the
 * change the map predicts, Σ_patch a (attributions read as contributions relative to the fill, as
 * gradient×input, IG and SHAP give them: Captum's multiply-by-inputs form), with the score change
 * f(x) − f(x − I). Per input: the mean squared difference after scaling the map by its best
 * least-squares factor (Captum's normalize; `normalize: false` keeps the raw map). 0 for
 * gradient×input on a linear model. Lower is better; in squared score units, so compare methods on one
 * model only.
 */
import { gridSegments } from '../../methods/explain/superpixels.ts';
import { dims, needModel, pixelsOf, resultOf, type ScoreKind, ScoreQueue } from '../common.ts';
import type { Metric } from '../types.ts';
import { segmentMembers, segmentSums } from './region-perturbation.ts';

export interface InfidelityOptions {
  /** Patch side (default a seventh of the smaller side: 4 on 28×28, 32 on 224×224). */
  patch?: number;
  /** Logits (default: what attribution methods explain) or the model output. */
  score?: ScoreKind;
  /**
   * Scale each map by its least-squares factor first (default true, Captum's normalize): maps in other
   * units than the score (CAMs, saliency) are judged on their shape, not their scale.
   */
  normalize?: boolean;
}

export const infidelity: Metric<InfidelityOptions> = {
  id: 'infidelity',
  title: 'Infidelity',
  family: 'faithfulness',
  description:
    'Mean squared gap between the relevance a removed patch held and the score change its removal caused (Yeh et al.). Lower is better.',
  higherIsBetter: false,
  needs: { model: true, region: false, explain: false },
  cost: 'one forward per patch (49 at the default patch size)',
  async compute(ctx, o = {}) {
    const { N, H, W, C } = dims(ctx, 'infidelity');
    const model = needModel(ctx, 'infidelity');
    const patch = o.patch ?? Math.max(1, Math.round(Math.min(H, W) / 7));
    const seg = gridSegments(H, W, patch);
    const fill = ctx.fill ?? 0;
    const score = o.score ?? 'logits';
    const x = await pixelsOf(ctx.input);
    const size = H * W * C;
    const members = segmentMembers(seg.labels, seg.count);
    const queue = new ScoreQueue(model, [H, W, C], { batch: ctx.batch, score });
    for (let i = 0; i < N; i++) {
      const img = x.subarray(i * size, (i + 1) * size);
      await queue.push(img, ctx.targets[i]);
      for (let l = 0; l < seg.count; l++) {
        const cur = Float32Array.from(img);
        for (const p of members[l]) cur.fill(fill, p * C, (p + 1) * C);
        await queue.push(cur, ctx.targets[i]);
      }
    }
    const y = await queue.flush();
    const K = seg.count + 1;
    const normalize = o.normalize ?? true;
    const values = ctx.maps.map((m, i) => {
      const held = segmentSums(m, seg.labels, seg.count);
      const drop = Array.from(held, (_, l) => y[i * K] - y[i * K + 1 + l]);
      // Captum's normalize: the least-squares scale β of the map, so a map in other units is not penalised.
      let beta = 1;
      if (normalize) {
        let hd = 0;
        let hh = 0;
        for (let l = 0; l < seg.count; l++) {
          hd += held[l] * drop[l];
          hh += held[l] * held[l];
        }
        beta = hh > 0 ? hd / hh : 0;
      }
      let e = 0;
      for (let l = 0; l < seg.count; l++) e += (beta * held[l] - drop[l]) ** 2;
      return e / seg.count;
    });
    return resultOf('infidelity', values, { patch, score, normalize });
  },
};
