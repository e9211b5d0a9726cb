/**
 * Deletion and insertion curves (Petsiuk et al., RISE): remove (deletion) or reveal (insertion)
 * pixels in the order an attribution map ranks them, most important first, and track the target
 * class score. A faithful map makes the deletion curve fall fast (low AUC) and the insertion curve
 * rise fast (high AUC). A random ordering gives the baseline to beat.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, permutation } from '../../data/rng.ts';

export interface CurveOptions {
  /** Points on the curve after the start (default 20): pixels change in steps of ⌈HW/steps⌉. */
  steps?: number;
  /** Value that removed pixels take, in the model's input space (default 0). */
  fill?: number;
  /** Images per forward pass (default 64). */
  batch?: number;
}

export interface Curves {
  /** Target score after 0, 1, …, steps chunks of pixels changed. */
  deletion: number[];
  insertion: number[];
  deletionAuc: number;
  insertionAuc: number;
}

/** Pixel indices sorted by decreasing attribution (ties keep index order, so the order is stable). */
export function rankPixels(map: Float32Array): Uint32Array {
  const idx = Uint32Array.from(map.keys());
  return idx.sort((a, b) => map[b] - map[a] || a - b);
}

/** A random pixel order: the baseline every method should beat. */
export function randomOrder(size: number, seed: number): Uint32Array {
  return permutation(size, createRng(seed));
}

/** Trapezoid area under a curve sampled at evenly spaced fractions 0…1. */
export function auc(curve: number[]): number {
  if (curve.length < 2) return curve[0] ?? 0;
  let s = 0;
  for (let i = 1; i < curve.length; i++) s += (curve[i - 1] + curve[i]) / 2;
  return s / (curve.length - 1);
}

/**
 * Both curves for one image [H, W, C], one target and one pixel order; the score is the model's
 * output for the target (probabilities for the usual softmax models).
 */
export async function deletionInsertion(
  model: tf.LayersModel,
  image: tf.Tensor3D,
  target: number,
  order: Uint32Array,
  options: CurveOptions = {},
): Promise<Curves> {
  const [H, W, C] = image.shape;
  const steps = options.steps ?? 20;
  const fill = options.fill ?? 0;
  const batch = options.batch ?? 64;
  if (!(Number.isInteger(steps) && steps >= 1))
    throw new Error(`steps must be a positive integer, got ${steps}`);
  if (order.length !== H * W)
    throw new Error(`pixel order has ${order.length} entries, image has ${H * W} pixels`);
  const x = image.dataSync() as Float32Array;
  const chunk = Math.ceil((H * W) / steps);
  const frames = (insert: boolean): Float32Array => {
    const out = new Float32Array((steps + 1) * H * W * C);
    const cur = insert ? new Float32Array(x.length).fill(fill) : Float32Array.from(x);
    for (let s = 0; s <= steps; s++) {
      if (s > 0)
        for (let k = (s - 1) * chunk; k < Math.min(s * chunk, H * W); k++) {
          const p = order[k] * C;
          for (let c = 0; c < C; c++) cur[p + c] = insert ? x[p + c] : fill;
        }
      out.set(cur, s * H * W * C);
    }
    return out;
  };
  const evaluate = async (data: Float32Array): Promise<number[]> => {
    const res: number[] = [];
    for (let b = 0; b <= steps; b += batch) {
      const nb = Math.min(batch, steps + 1 - b);
      const y = tf.tidy(() => {
        const xs = tf.tensor4d(data.subarray(b * H * W * C, (b + nb) * H * W * C), [nb, H, W, C]);
        const out = model.apply(xs, { training: false }) as tf.Tensor2D;
        return out.slice([0, target], [nb, 1]).reshape([nb]);
      });
      res.push(...(await y.data()));
      y.dispose();
    }
    return res;
  };
  const deletion = await evaluate(frames(false));
  const insertion = await evaluate(frames(true));
  return { deletion, insertion, deletionAuc: auc(deletion), insertionAuc: auc(insertion) };
}
