/**
 * IROF, iterative removal of features (Rieger & Hansen, 2020; Quantus `IROF`): segment the image
 * (SLIC superpixels, or a grid on small images), rank segments by their mean relevance, remove them
 * most-relevant first (filled with the image's mean colour) and report the area over the curve of the
 * target score relative to the original, 1 − AUC(f(x_k)/f(x)). Higher is better.
 */
import { fillColour, type SegmentOptions, segmentImage } from '../../methods/explain/superpixels.ts';
import { dims, needModel, pixelsOf, resultOf, type ScoreKind, ScoreQueue } from '../common.ts';
import type { Metric } from '../types.ts';
import { evenAuc } from './curves.ts';
import { segmentMembers, segmentSums } from './region-perturbation.ts';

export const irof: Metric<SegmentOptions & { score?: ScoreKind }> = {
  id: 'irof',
  title: 'IROF',
  family: 'faithfulness',
  description:
    'Superpixels are removed (mean colour) in order of mean relevance; area over the relative score curve (Rieger & Hansen). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: 'segments + 1 forwards per input (about 50) plus SLIC on photos',
  async compute(ctx, o = {}) {
    const { N, H, W, C } = dims(ctx, 'irof');
    const model = needModel(ctx, 'irof');
    const x = await pixelsOf(ctx.input);
    const size = H * W * C;
    const queue = new ScoreQueue(model, [H, W, C], { batch: ctx.batch, score: o.score });
    const counts: number[] = [];
    for (let i = 0; i < N; i++) {
      const img = x.slice(i * size, (i + 1) * size);
      const seg = segmentImage(img, H, W, C, o);
      const colour = fillColour(img, C, 'mean');
      const sums = segmentSums(ctx.maps[i], seg.labels, seg.count);
      const sizes = new Float64Array(seg.count);
      for (const l of seg.labels) sizes[l]++;
      const order = Array.from(sums.keys())
        .filter((l) => sizes[l] > 0)
        .sort((a, b) => sums[b] / sizes[b] - sums[a] / sizes[a] || a - b);
      const members = segmentMembers(seg.labels, seg.count);
      const cur = img.slice();
      await queue.push(cur, ctx.targets[i]);
      for (const l of order) {
        for (const p of members[l]) cur.set(colour, p * C);
        await queue.push(cur, ctx.targets[i]);
      }
      counts.push(order.length);
    }
    const s = await queue.flush();
    const values: number[] = [];
    let at = 0;
    for (let i = 0; i < N; i++) {
      const c = s.slice(at, at + counts[i] + 1);
      at += counts[i] + 1;
      values.push(c[0] > 0 ? 1 - evenAuc(c.map((v) => v / c[0])) : Number.NaN);
    }
    return resultOf('irof', values, { segments: counts });
  },
};
