/** Keras 3 `.keras` files: a zip holding config.json (the model config) and model.weights.h5. */
import type { tf } from '@convlens/core/engine/backend';
import { keras3WeightGroups, modelFromKerasConfig } from './keras-config.ts';
import { loadKeras3Weights } from './keras-h5.ts';
import { readZip } from './zip-read.ts';

/** A model config is JSON text: 64 MiB is far beyond any real one. */
const MAX_CONFIG_BYTES = 64 * 2 ** 20;

export async function loadKerasZip(bytes: Uint8Array, source: string): Promise<tf.LayersModel> {
  // Bounded inflate (zip-read.ts): a bomb is refused from its declared sizes or stopped while inflating.
  const configBytes = readZip(bytes, source, ['config.json'], MAX_CONFIG_BYTES)['config.json'];
  const weights = readZip(bytes, source, ['model.weights.h5'])['model.weights.h5'];
  if (!configBytes) throw new Error(`${source}: no config.json in the .keras zip`);
  if (!weights) throw new Error(`${source}: no model.weights.h5 in the .keras zip`);
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes));
  } catch {
    throw new Error(`${source}: config.json is not valid JSON`);
  }
  const model = await modelFromKerasConfig(config, `${source}:config.json`);
  await loadKeras3Weights(model, weights, `${source}:model.weights.h5`, keras3WeightGroups(config));
  return model;
}
