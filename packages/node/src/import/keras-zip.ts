/** Keras 3 `.keras` files: a zip holding config.json (the model config) and model.weights.h5. */
import type { tf } from '@convlens/core/engine/backend';
import { unzipSync } from 'fflate';
import { keras3WeightGroups, modelFromKerasConfig } from './keras-config.ts';
import { loadKeras3Weights } from './keras-h5.ts';

export async function loadKerasZip(bytes: Uint8Array, source: string): Promise<tf.LayersModel> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (err: any) {
    throw new Error(`${source}: not a readable .keras zip (${err.message})`);
  }
  const configBytes = entries['config.json'];
  const weights = entries['model.weights.h5'];
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
