/**
 * Deletion and insertion curves (Petsiuk et al., RISE): remove (deletion) or reveal (insertion)
 * pixels in the order an attribution map ranks them, most important first, and track the target
 * class score. A faithful map makes the deletion curve fall fast (low AUC) and the insertion curve
 * rise fast (high AUC). A random ordering gives the baseline to beat.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, permutation } from '../../data/rng.ts';
import { perturbationCurves } from '../../metrics/faithfulness/curves.ts';

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
  const [H, W] = image.shape;
  if (order.length !== H * W)
    throw new Error(`pixel order has ${order.length} entries, image has ${H * W} pixels`);
  // One implementation of the curves: the metric library's batched one (metrics/faithfulness/curves.ts).
  const input = tf.expandDims(image, 0) as tf.Tensor4D;
  try {
    const req = { model, input, targets: [target], orders: [order], ...options };
    const [deletion] = await perturbationCurves({ ...req, mode: 'delete' });
    const [insertion] = await perturbationCurves({ ...req, mode: 'insert' });
    return { deletion, insertion, deletionAuc: auc(deletion), insertionAuc: auc(insertion) };
  } finally {
    input.dispose();
  }
}
