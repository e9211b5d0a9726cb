/**
 * Batching: bytes are converted to float one batch at a time, so a dataset never exists as float32
 * (60,000 MNIST images would take 188 MB). Pipeline per batch, in Keras's order: scale to [0,1],
 * augment (fill 0 = black), then standardize.
 */

import { applyPreprocess, type Preprocess } from '../preprocess/presets.ts';
import { type AugmentParams, augmentBatch, isIdentityParams, validateAugmentParams } from './augment.ts';
import { createRng, mixSeed, shuffleInPlace } from './rng.ts';
import { imageSize, newLabels } from './split.ts';
import { applyStandardizer, type Standardizer } from './standardize.ts';
import type { ImageSet, LabelArray } from './types.ts';

export interface Batch {
  /** size×H×W×C floats, NHWC. */
  x: Float32Array;
  /** size class indices. */
  y: LabelArray;
  size: number;
  /** Indices into the source set of this batch's examples. */
  indices: Uint32Array;
}

/** 'unit': byte/255. 'standardize': byte/255 then per-pixel (x − mean)/std with `standardizer`. */
export type Scaling = 'unit' | 'standardize';

export interface BatchOptions {
  scaling?: Scaling;
  standardizer?: Standardizer;
  /** Shuffle the order, seeded by (seed, epoch): each epoch gets its own reproducible order. */
  shuffle?: boolean;
  seed?: number;
  epoch?: number;
  /** Random augmentation per image, seeded by (seed, epoch). */
  augment?: AugmentParams;
  /** Skip a last partial batch. */
  dropRemainder?: boolean;
  /** A model's own preprocessing of [0,1] pixels (replaces `scaling`; e.g. an imported ImageNet model's). */
  preprocess?: Preprocess;
}

/** How many batches batchIterator yields. */
export function batchCount(n: number, batchSize: number, dropRemainder = false): number {
  return dropRemainder ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** Float NHWC (scaled, optionally standardized) for the given examples, in order. */
export function toFloatBatch(
  set: ImageSet,
  indices: ArrayLike<number>,
  opts: Pick<BatchOptions, 'scaling' | 'standardizer'> = {},
): Float32Array {
  const size = imageSize(set);
  const x = new Float32Array(indices.length * size);
  const scale = 1 / 255;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (i >= set.count) throw new Error(`batch index ${i} out of range for ${set.count} examples`);
    const src = i * size;
    const dst = k * size;
    for (let p = 0; p < size; p++) x[dst + p] = set.images[src + p] * scale;
  }
  const standardizer = checkScaling(set, opts);
  if (standardizer) applyStandardizer(standardizer, x);
  return x;
}

function checkScaling(
  set: ImageSet,
  opts: Pick<BatchOptions, 'scaling' | 'standardizer'>,
): Standardizer | undefined {
  const scaling = opts.scaling ?? 'unit';
  if (scaling === 'unit') return undefined;
  if (scaling !== 'standardize')
    throw new Error(`unknown scaling '${scaling}' (expected unit or standardize)`);
  const s = opts.standardizer;
  if (!s) throw new Error("scaling 'standardize' needs a fitted standardizer");
  if (s.height !== set.height || s.width !== set.width || s.channels !== set.channels) {
    throw new Error(
      `standardizer is for ${s.height}×${s.width}×${s.channels} images, data is ${set.height}×${set.width}×${set.channels}`,
    );
  }
  return s;
}

/** applyPreprocess on every image of a batch of [0,1] pixels (scale01 is the identity: no copy). */
export function preprocessBatch(
  p: Preprocess,
  x: Float32Array,
  channels: number,
  size: number,
): Float32Array {
  if (p.preset === 'scale01') return x;
  return applyPreprocess(p, x, channels, x.length / size);
}

/** Yields batches over `indices` (default: all examples in order). */
export function* batchIterator(
  set: ImageSet,
  indices: ArrayLike<number> | undefined,
  batchSize: number,
  opts: BatchOptions = {},
): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  }
  const standardizer = checkScaling(set, opts);
  if (opts.augment) validateAugmentParams(opts.augment);
  const augment = opts.augment && !isIdentityParams(opts.augment) ? opts.augment : undefined;
  const order = indices ? Uint32Array.from(indices) : Uint32Array.from({ length: set.count }, (_, i) => i);
  const seed = opts.seed ?? 0;
  const epoch = opts.epoch ?? 0;
  if (opts.shuffle) shuffleInPlace(order, createRng(mixSeed(seed, epoch, 1)));
  // A separate stream for augmentation, so turning shuffling on or off does not change the transforms.
  const augRng = createRng(mixSeed(seed, epoch, 2));
  const n = batchCount(order.length, batchSize, opts.dropRemainder);
  for (let b = 0; b < n; b++) {
    const idx = order.subarray(b * batchSize, Math.min((b + 1) * batchSize, order.length));
    let x = toFloatBatch(set, idx);
    if (augment) x = augmentBatch(x, set.height, set.width, set.channels, augment, augRng, false);
    if (standardizer) applyStandardizer(standardizer, x);
    if (opts.preprocess) x = preprocessBatch(opts.preprocess, x, set.channels, imageSize(set));
    const y = newLabels(set.labels, idx.length);
    for (let k = 0; k < idx.length; k++) y[k] = set.labels[idx[k]];
    yield { x, y, size: idx.length, indices: idx };
  }
}
