/**
 * Batched perturbation curves: for each input, the target score after 0, 1, …, steps chunks of pixels
 * (in a given order) are removed (set to the fill) or revealed (starting from an all-fill image).
 * Frames of all inputs share forward passes, so 20-step curves on MobileNet cost ⌈21·N/batch⌉ passes.
 */
import type * as tf from '@tensorflow/tfjs';
import { pixelsOf, type ScoreKind, ScoreQueue } from '../common.ts';

export interface CurveRequest {
  model: tf.LayersModel;
  input: tf.Tensor4D;
  targets: number[];
  /** Pixel order per input, most relevant first. */
  orders: Uint32Array[];
  /** Chunks after the start (default 20): ⌈HW/steps⌉ pixels per chunk. */
  steps?: number;
  fill?: number;
  /** 'delete': remove in order from the image; 'insert': reveal in order onto the fill. */
  mode: 'delete' | 'insert';
  batch?: number;
  score?: ScoreKind;
}

/** One curve per input, steps + 1 points each. */
export async function perturbationCurves(r: CurveRequest): Promise<number[][]> {
  const [N, H, W, C] = r.input.shape;
  const steps = r.steps ?? 20;
  const fill = r.fill ?? 0;
  if (!(Number.isInteger(steps) && steps >= 1))
    throw new Error(`steps must be a positive integer, got ${steps}`);
  const x = await pixelsOf(r.input);
  const size = H * W * C;
  const chunk = Math.ceil((H * W) / steps);
  const queue = new ScoreQueue(r.model, [H, W, C], { batch: r.batch, score: r.score });
  const insert = r.mode === 'insert';
  for (let i = 0; i < N; i++) {
    const order = r.orders[i];
    if (order.length !== H * W)
      throw new Error(`pixel order has ${order.length} entries, image has ${H * W} pixels`);
    const img = x.subarray(i * size, (i + 1) * size);
    const cur = insert ? new Float32Array(size).fill(fill) : Float32Array.from(img);
    for (let s = 0; s <= steps; s++) {
      if (s > 0)
        for (let k = (s - 1) * chunk; k < Math.min(s * chunk, H * W); k++) {
          const p = order[k] * C;
          for (let c = 0; c < C; c++) cur[p + c] = insert ? img[p + c] : fill;
        }
      await queue.push(cur, r.targets[i]);
    }
  }
  const all = await queue.flush();
  return Array.from({ length: N }, (_, i) => all.slice(i * (steps + 1), (i + 1) * (steps + 1)));
}

/** Trapezoid area under a curve sampled at evenly spaced fractions 0…1. */
export function evenAuc(curve: number[]): number {
  if (curve.length < 2) return curve[0] ?? 0;
  let s = 0;
  for (let i = 1; i < curve.length; i++) s += (curve[i - 1] + curve[i]) / 2;
  return s / (curve.length - 1);
}
