/**
 * Region perturbation (Samek et al., 2017; Quantus `RegionPerturbation`): cut the image into square
 * patches, rank them by the relevance they hold, remove them most-relevant first (set to the fill) and
 * report the AOPC, the mean over steps k = 0…L of f(x) − f(x with the top k patches removed). A faithful
 * map makes the score drop early: higher is better.
 */
import { gridSegments } from '../../methods/explain/superpixels.ts';
import { dims, needModel, pixelsOf, resultOf, type ScoreKind, ScoreQueue } from '../common.ts';
import type { Metric } from '../types.ts';

export interface RegionPerturbationOptions {
  /** Patch side in pixels (default a seventh of the smaller side: 4 on 28×28, 32 on 224×224). */
  patch?: number;
  /** Patches removed at most (default: all, capped at 100 as in Quantus). */
  regions?: number;
  score?: ScoreKind;
}

/** Sum of a map over each segment label. */
export function segmentSums(map: Float32Array, labels: Int32Array, count: number): Float64Array {
  const s = new Float64Array(count);
  for (let p = 0; p < map.length; p++) if (!Number.isNaN(map[p])) s[labels[p]] += map[p];
  return s;
}

/** Pixel indices of each segment label. */
export function segmentMembers(labels: Int32Array, count: number): number[][] {
  const members: number[][] = Array.from({ length: count }, () => []);
  for (let p = 0; p < labels.length; p++) members[labels[p]].push(p);
  return members;
}

export const regionPerturbation: Metric<RegionPerturbationOptions> = {
  id: 'region-perturbation',
  title: 'Region perturbation (AOPC)',
  family: 'faithfulness',
  description:
    'Mean drop of the target score as square patches are removed, most relevant patch first (Samek et al.’s AOPC). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: 'one forward per patch removed (49 at the default patch size)',
  async compute(ctx, o = {}) {
    const { N, H, W, C } = dims(ctx, 'region-perturbation');
    const model = needModel(ctx, 'region-perturbation');
    const patch = o.patch ?? Math.max(1, Math.round(Math.min(H, W) / 7));
    const seg = gridSegments(H, W, patch);
    const L = Math.min(o.regions ?? 100, seg.count);
    if (!(Number.isInteger(L) && L >= 1))
      throw new Error(`region-perturbation: regions must be ≥ 1, got ${L}`);
    const fill = ctx.fill ?? 0;
    const x = await pixelsOf(ctx.input);
    const size = H * W * C;
    // Pixels of each patch, so removing one touches only its pixels.
    const members = segmentMembers(seg.labels, seg.count);
    const queue = new ScoreQueue(model, [H, W, C], { batch: ctx.batch, score: o.score });
    for (let i = 0; i < N; i++) {
      const sums = segmentSums(ctx.maps[i], seg.labels, seg.count);
      const order = Array.from(sums.keys()).sort((a, b) => sums[b] - sums[a] || a - b);
      const cur = x.slice(i * size, (i + 1) * size);
      await queue.push(cur, ctx.targets[i]);
      for (let k = 0; k < L; k++) {
        for (const p of members[order[k]]) cur.fill(fill, p * C, (p + 1) * C);
        await queue.push(cur, ctx.targets[i]);
      }
    }
    const s = await queue.flush();
    const curves = Array.from({ length: N }, (_, i) => s.slice(i * (L + 1), (i + 1) * (L + 1)));
    const values = curves.map((c) => c.reduce((a, v) => a + (c[0] - v), 0) / c.length);
    return resultOf('region-perturbation', values, { patch, regions: L, curves });
  },
};
