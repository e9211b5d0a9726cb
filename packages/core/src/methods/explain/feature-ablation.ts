/**
 * Feature ablation (Captum's FeatureAblation with a feature mask): hide one segment at a time — a
 * SLIC superpixel, or a grid cell on small inputs — and record how far the target's output falls.
 * One evaluation per segment, all batched; each pixel gets its segment's drop (negative: hiding
 * the segment raises the class).
 */
import * as tf from '@tensorflow/tfjs';
import { finish, positiveInteger, resolveTargets } from './common.ts';
import {
  coalitionOutputs,
  type SegmentOptions,
  segmentBatch,
  segmentKind,
  segmentMap,
  segmentMaps,
} from './superpixels.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

export interface FeatureAblationOptions extends SegmentOptions {
  /** Value of the hidden segment in the model's input space, or 'mean' for the image's mean colour (default 0). */
  fill?: number | 'mean';
  /** Copies per forward pass (default 64). */
  batch?: number;
}

export const featureAblation: ExplainMethod<FeatureAblationOptions> = {
  id: 'feature-ablation',
  title: 'Feature ablation',
  description:
    'Drop in the class output when one segment (superpixel, or grid cell on small inputs) is hidden, per segment: one evaluation each, model-agnostic, blind to segments that only matter together.',
  needsLayer: false,
  async explain(req: ExplainRequest<FeatureAblationOptions>): Promise<Explanation> {
    const o = req.options ?? {};
    const targets = resolveTargets(req.model, req);
    const batch = positiveInteger('batch', o.batch ?? 64);
    const images = await segmentBatch(req.input, o);
    const drops: Float64Array[] = [];
    const base: number[] = [];
    for (let i = 0; i < images.length; i++) {
      const m = images[i].seg.count;
      const rows = [new Uint8Array(m).fill(1)];
      for (let k = 0; k < m; k++) {
        const r = new Uint8Array(m).fill(1);
        r[k] = 0;
        rows.push(r);
      }
      const y = await coalitionOutputs(req.model, images[i], rows, targets[i], batch);
      base.push(y[0]);
      drops.push(Float64Array.from({ length: m }, (_, k) => y[0] - y[k + 1]));
    }
    const [, H, W] = req.input.shape;
    const maps = tf.tensor3d(segmentMaps(images.map((im, i) => segmentMap(im.seg, drops[i]))), [
      images.length,
      H,
      W,
    ]);
    try {
      return await finish('feature-ablation', maps, targets, true, {
        meta: {
          segmentation: segmentKind(H, W, o),
          fill: o.fill ?? 0,
          segments: images.map((im) => im.seg.count),
          evaluations: images.map((im) => im.seg.count + 1),
          baseOutput: base,
          drops: drops.map((d) => Array.from(d)),
        },
      });
    } finally {
      maps.dispose();
    }
  },
};
