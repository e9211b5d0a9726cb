/** @convlens/core: engine, data, models, training and evaluation; runs in Node and in browsers. */
export * from './data/index.ts';
export * from './engine/backend.ts';
export * from './eval/confusion.ts';
export * from './eval/metrics.ts';
export * from './eval/predict.ts';
export * from './inspect/filters.ts';
export * from './inspect/fingerprint.ts';
export * from './inspect/probe.ts';
export * from './inspect/receptive-field.ts';
export * from './inspect/receptive-field-empirical.ts';
export * from './methods/actmax/objective.ts';
export * from './methods/actmax/optimize.ts';
export * from './methods/actmax/parameterization.ts';
export * from './methods/actmax/regularizers.ts';
export * from './methods/actmax/sweep.ts';
export * from './methods/actmax/transforms.ts';
export * from './methods/explain/registry.ts';
export type { ExplainMethod, ExplainRequest, Explanation } from './methods/explain/types.ts';
export * from './methods/faithfulness/deletion-insertion.ts';
export { type Box as PointingBox, pointingGame, pointingHit } from './methods/faithfulness/pointing-game.ts';
export * from './methods/faithfulness/randomization.ts';
export * from './methods/faithfulness/rank-correlation.ts';
export * from './methods/faithfulness/road.ts';
export * from './methods/faithfulness/table.ts';
export * from './models/build.ts';
export * from './models/cam-head.ts';
export * from './models/graph-layers.ts';
export * from './models/inspect.ts';
export * from './models/logits.ts';
export * from './models/spec.ts';
export * from './models/zoo.ts';
export * from './preprocess/presets.ts';
export * from './render/index.ts';
export * from './stats/collector.ts';
export * from './stats/dataset-stats.ts';
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
