import type * as tf from '@tensorflow/tfjs';

/** One row of a model summary: what visualization code needs to pick layers by kind and name. */
export interface LayerInfo {
  name: string;
  /** tfjs class name: Conv2D, MaxPooling2D, Dense, Dropout, Flatten, BatchNormalization, ... */
  className: string;
  /** Output shape without the batch dimension. */
  outputShape: number[];
  params: number;
}

/** Summarizes every layer after the input, in order. */
export function describeLayers(model: tf.LayersModel): LayerInfo[] {
  return model.layers
    .filter((l) => l.getClassName() !== 'InputLayer')
    .map((l) => ({
      name: l.name,
      className: l.getClassName(),
      outputShape: (l.outputShape as number[]).slice(1),
      params: l.countParams(),
    }));
}

/** Names of the layers of one tfjs class, in order, e.g. layersOfClass(m, 'Conv2D') → ['conv1', 'conv2']. */
export function layersOfClass(model: tf.LayersModel, className: string): string[] {
  return model.layers.filter((l) => l.getClassName() === className).map((l) => l.name);
}

/** The last Conv2D layer, Grad-CAM's default target layer. Throws when the model has none. */
export function lastConvLayer(model: tf.LayersModel): string {
  const convs = layersOfClass(model, 'Conv2D');
  if (convs.length === 0) throw new Error(`model '${model.name}' has no Conv2D layer`);
  return convs[convs.length - 1];
}
