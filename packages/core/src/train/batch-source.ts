import * as tf from '@tensorflow/tfjs';
import type { LabelArray } from '../data/types.ts';

/**
 * One batch as the data layer delivers it: NHWC float pixels, already scaled/standardized/augmented,
 * and one class index per example. Only the first `size` examples are used, so a loader may reuse
 * larger buffers.
 */
export interface Batch {
  x: Float32Array;
  y: LabelArray;
  size: number;
}

/** A pass over some examples, in order. Async iterables let a loader prepare batches off-thread. */
export type Batches<B = Batch> = Iterable<B> | AsyncIterable<B>;

/**
 * The examples of one epoch (0-based index), e.g. shuffled with a seed derived from it. The loop
 * depends only on this, not on how the data layer batches, so tests can feed synthetic data.
 */
export type BatchSource<B = Batch> = (epoch: number) => Batches<B>;

/** Model input size without the batch dimension. */
export type InputShape = [number, number, number];

/** A model's [H, W, C] input, read from its first input. */
export function modelInputShape(model: tf.LayersModel): InputShape {
  const s = model.inputs[0].shape;
  if (s.length !== 4 || s.slice(1).some((d) => d == null)) {
    throw new Error(`model '${model.name}' must take images [batch, height, width, channels], got [${s}]`);
  }
  return s.slice(1) as InputShape;
}

/** Number of classes the model outputs (its first output's last dimension). */
export function modelNumClasses(model: tf.LayersModel): number {
  const s = model.outputs[0].shape;
  const k = s[s.length - 1];
  if (s.length !== 2 || k == null)
    throw new Error(`model '${model.name}' must output [batch, classes], got [${s}]`);
  return k;
}

/** Checks a batch against the input shape and class count; `where` prefixes the error. */
export function checkBatch(
  batch: Batch,
  shape: InputShape,
  numClasses: number,
  where: string,
  labelled = true,
): void {
  const { size } = batch;
  if (!(Number.isInteger(size) && size > 0))
    throw new Error(`${where}: size must be a positive integer, got ${size}`);
  const want = size * shape[0] * shape[1] * shape[2];
  if (batch.x.length < want) {
    throw new Error(
      `${where}: x has ${batch.x.length} values, expected size×H×W×C = ${size}×${shape.join('×')} = ${want}`,
    );
  }
  if (!labelled) return;
  if (batch.y.length < size) throw new Error(`${where}: y has ${batch.y.length} labels for ${size} examples`);
  for (let i = 0; i < size; i++) {
    if (batch.y[i] >= numClasses)
      throw new Error(`${where}: label ${batch.y[i]} is not below numClasses ${numClasses}`);
  }
}

/** The batch's images as a [size, H, W, C] tensor (call inside tf.tidy). */
export function imagesTensor(batch: { x: Float32Array; size: number }, shape: InputShape): tf.Tensor4D {
  const n = batch.size * shape[0] * shape[1] * shape[2];
  const x = batch.x.length === n ? batch.x : batch.x.subarray(0, n);
  return tf.tensor4d(x, [batch.size, ...shape]);
}

/** The batch's labels as an int32 [size] tensor (call inside tf.tidy). */
export function labelsTensor(batch: Batch): tf.Tensor1D {
  return tf.tensor1d(Int32Array.from(batch.y.subarray(0, batch.size)), 'int32');
}
