/** Writes an imported model as a convlens model folder: model.json + weights.bin + preprocess.json. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { tf } from '@convlens/core/engine/backend';
import { type Preprocess, parsePreprocess } from '@convlens/core/preprocess/presets';
import { writeDirAtomic } from '../io/atomic.ts';
import { loadModel, saveModel } from '../io/model-io.ts';

export const PREPROCESS_JSON = 'preprocess.json';

/** Atomic: `dir` is either the complete new folder or left as it was. */
export async function saveImported(
  model: tf.LayersModel,
  dir: string,
  preprocess: Preprocess,
): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    // Keep the model's own metadata (an ONNX model's layer aliases and logits flag) beside the preset.
    const meta = (model.getUserDefinedMetadata() ?? {}) as Record<string, unknown>;
    await saveModel(model, tmp, { ...meta, preprocess: { preset: preprocess.preset } });
    await writeFile(join(tmp, PREPROCESS_JSON), JSON.stringify(preprocess));
  });
}

/** Reads preprocess.json beside a model.json; undefined when the folder has none. */
export async function readPreprocess(dir: string): Promise<Preprocess | undefined> {
  const path = join(dir, PREPROCESS_JSON);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path}: not valid JSON`);
  }
  return parsePreprocess(json, path);
}

/** Loads a folder written by saveImported. */
export async function loadImported(dir: string): Promise<{ model: tf.LayersModel; preprocess?: Preprocess }> {
  const { model } = await loadModel(dir);
  return { model, preprocess: await readPreprocess(dir) };
}
