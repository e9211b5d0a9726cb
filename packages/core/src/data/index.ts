/** Data handling that runs in Node and in the browser: IDX, splits, batches, standardization, augmentation. */
export * from './augment.ts';
export * from './batches.ts';
export * from './idx.ts';
export * from './rng.ts';
export * from './split.ts';
export * from './standardize.ts';
export type * from './types.ts';
