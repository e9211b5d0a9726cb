/**
 * Shapley value sampling (Castro et al. 2009; Captum's ShapleyValueSampling) over image segments:
 * for seeded random orders of the segments, switch them on one by one from "all hidden" and credit
 * each with the change in the target's output; orders come in antithetic pairs (an order and its
 * reverse) to cut the variance. Every order's credits sum to f(x) − f(all hidden) exactly; on a
 * model additive over segments every order gives the exact Shapley values.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed } from '../../data/rng.ts';
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

export interface ShapleySamplingOptions extends SegmentOptions {
  /** Orders sampled (default 10 on inputs up to 64 pixels a side, 4 above; pairs of an order and its reverse). */
  permutations?: number;
  /** Value of hidden segments in the model's input space, or 'mean' for the image's mean colour (default 0). */
  fill?: number | 'mean';
  /** Copies per forward pass (default 64). */
  batch?: number;
  seed?: number;
}

/** `count` orders of 0..m-1: seeded shuffles, every odd one the reverse of the one before. */
export function antitheticOrders(m: number, count: number, seed: number): number[][] {
  const rng = createRng(seed);
  const out: number[][] = [];
  for (let p = 0; p < count; p++) {
    if (p % 2 === 1) {
      out.push([...out[p - 1]].reverse());
      continue;
    }
    const order = Array.from({ length: m }, (_, i) => i);
    for (let i = m - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    out.push(order);
  }
  return out;
}

export const shapleySampling: ExplainMethod<ShapleySamplingOptions> = {
  id: 'shapley-sampling',
  title: 'Shapley value sampling',
  description:
    'Each segment’s average marginal contribution to the class output over random orders of switching segments on: Shapley values by sampling, summing exactly to f(x) − f(all hidden).',
  needsLayer: false,
  async explain(req: ExplainRequest<ShapleySamplingOptions>): Promise<Explanation> {
    const o = req.options ?? {};
    const targets = resolveTargets(req.model, req);
    const [, H, W] = req.input.shape;
    const perms = positiveInteger('permutations', o.permutations ?? (Math.max(H, W) <= 64 ? 10 : 4));
    const batch = positiveInteger('batch', o.batch ?? 64);
    const images = await segmentBatch(req.input, o);
    const phis: Float64Array[] = [];
    const ends: [number, number][] = [];
    for (let i = 0; i < images.length; i++) {
      const m = images[i].seg.count;
      const orders = antitheticOrders(m, perms, mixSeed(o.seed ?? 0, i));
      // Rows: all on, all hidden, then each order's coalitions of 1..m−1 segments.
      const rows: Uint8Array[] = [new Uint8Array(m).fill(1), new Uint8Array(m)];
      for (const order of orders) {
        const r = new Uint8Array(m);
        for (let j = 0; j < m - 1; j++) {
          r[order[j]] = 1;
          rows.push(r.slice());
        }
      }
      const y = await coalitionOutputs(req.model, images[i], rows, targets[i], batch);
      const phi = new Float64Array(m);
      orders.forEach((order, p) => {
        let prev = y[1];
        for (let j = 0; j < m; j++) {
          const cur = j === m - 1 ? y[0] : y[2 + p * (m - 1) + j];
          phi[order[j]] += (cur - prev) / perms;
          prev = cur;
        }
      });
      phis.push(phi);
      ends.push([y[0], y[1]]);
    }
    const maps = tf.tensor3d(segmentMaps(images.map((im, i) => segmentMap(im.seg, phis[i]))), [
      images.length,
      H,
      W,
    ]);
    try {
      return await finish('shapley-sampling', maps, targets, true, {
        meta: {
          permutations: perms,
          segmentation: segmentKind(H, W, o),
          fill: o.fill ?? 0,
          segments: images.map((im) => im.seg.count),
          evaluations: images.map((im) => perms * (im.seg.count - 1) + 2),
          fx: ends.map((e) => e[0]),
          baseValue: ends.map((e) => e[1]),
          // Σφ − (f(x) − f(all hidden)): zero up to rounding, by construction.
          efficiencyGap: phis.map((p, i) => p.reduce((a, b) => a + b, 0) - (ends[i][0] - ends[i][1])),
          shapleyValues: phis.map((p) => Array.from(p)),
        },
      });
    } finally {
      maps.dispose();
    }
  },
};
