/** @convlens/core: engine, data, models, training and evaluation; runs in Node and in browsers. */
export * from './data/index.ts';
export * from './engine/backend.ts';
export * from './eval/metrics.ts';
export * from './models/build.ts';
export * from './models/inspect.ts';
export * from './models/logits.ts';
export * from './models/spec.ts';
export * from './models/zoo.ts';
// data/batches.ts's Batch (with source indices) is the one exported; the loop accepts it.
export {
  type Batches,
  type BatchSource,
  checkBatch,
  type InputShape,
  imagesTensor,
  labelsTensor,
  modelInputShape,
  modelNumClasses,
} from './train/batch-source.ts';
export * from './train/history.ts';
export * from './train/loop.ts';
export * from './train/optimizers.ts';
