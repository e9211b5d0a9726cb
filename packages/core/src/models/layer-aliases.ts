/**
 * Other names for a model's layers, kept in its userDefinedMetadata (so they survive save and reload):
 * a model converted from ONNX answers to PyTorch module names (`layer4`, `features.18`) and ONNX node
 * names as well as its tfjs layer names. Look layers up through findLayer wherever a user names one.
 */
import type * as tf from '@tensorflow/tfjs';

export const LAYER_ALIASES_KEY = 'layerAliases';

/** The model's userDefinedMetadata, if it has any. */
export function modelMetadata(model: tf.LayersModel): Record<string, unknown> | undefined {
  try {
    return (model as { getUserDefinedMetadata?: () => unknown }).getUserDefinedMetadata?.() as
      | Record<string, unknown>
      | undefined;
  } catch {
    return undefined;
  }
}

/** alias → layer name; {} when the model has none. */
export function layerAliases(model: tf.LayersModel): Record<string, string> {
  const a = modelMetadata(model)?.[LAYER_ALIASES_KEY];
  return a && typeof a === 'object' ? (a as Record<string, string>) : {};
}

/** The layer called `name`, else the layer `name` is an alias of. */
export function findLayer(model: tf.LayersModel, name: string): tf.layers.Layer | undefined {
  const exact = model.layers.find((l) => l.name === name);
  if (exact) return exact;
  const alias = layerAliases(model)[name];
  return alias === undefined ? undefined : model.layers.find((l) => l.name === alias);
}

/** The tfjs layer name for a name or alias (unchanged when neither matches, for the caller's message). */
export function resolveLayerName(model: tf.LayersModel, name: string): string {
  return findLayer(model, name)?.name ?? name;
}
