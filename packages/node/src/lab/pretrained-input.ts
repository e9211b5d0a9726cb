/** Dataset bytes → model input with the model's own preprocessing (core data/batches.ts). */
import { preprocessBatch, toFloatBatch } from '@convlens/core/data/batches';
import type { ImageSet } from '@convlens/core/data/types';
import { tf } from '@convlens/core/engine/backend';
import type { OpenedModel } from '../open/open-model.ts';

/** Images `indices` of `set` (repeats allowed) as one [N, H, W, C] input tensor; the caller disposes it. */
export function modelBatch(model: OpenedModel, set: ImageSet, indices: number[]): tf.Tensor4D {
  const size = set.height * set.width * set.channels;
  const x = preprocessBatch(model.preprocess, toFloatBatch(set, indices), set.channels, size);
  return tf.tensor4d(x, [indices.length, set.height, set.width, set.channels]);
}
