/**
 * Saving and loading tfjs layers models as model.json + weights.bin (the format a browser loads with
 * tf.loadLayersModel), with validation that names the file and the problem.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import { graphAsLayersModel, wrappedGraph } from '@convlens/core/models/graph-layers';
import { writeDirAtomic } from './atomic.ts';
import { modelShardPath } from './model-paths.ts';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** Writes the model (and optional metadata stored as userDefinedMetadata) atomically into `dir`. */
export async function saveModel(
  model: tf.LayersModel,
  dir: string,
  metadata?: Record<string, unknown>,
): Promise<void> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  // A wrapped graph model is saved as the graph itself (its layer wrapper is not serializable).
  const graph = wrappedGraph(model);
  await (graph ?? model).save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = graph ? { ...a, format: 'graph-model' } : a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  if (!artifacts) throw new Error('model could not be serialized');
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)));
  const manifest = [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }];
  // The layers-model JSON that tf.loadLayersModel reads (same fields tfjs's own file handlers write).
  const json: tf.io.ModelJSON = {
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: artifacts.convertedBy ?? null,
    modelTopology: artifacts.modelTopology as object,
    weightsManifest: manifest,
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    ...(metadata ? { userDefinedMetadata: metadata as Record<string, object> } : {}),
  };
  await writeDirAtomic(dir, async (tmp) => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(tmp, WEIGHTS_BIN), weights);
    await writeFile(join(tmp, MODEL_JSON), JSON.stringify(json));
  });
}

export interface LoadedModel {
  model: tf.LayersModel;
  metadata: Record<string, unknown>;
}

/** Loads model.json (+ its weight shards) from a directory or a model.json path. */
export async function loadModel(path: string): Promise<LoadedModel> {
  const jsonPath = path.endsWith('.json') ? path : join(path, MODEL_JSON);
  const dir = jsonPath.slice(0, jsonPath.length - MODEL_JSON.length) || '.';
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (err: any) {
    throw new Error(`${jsonPath}: cannot read model (${err.code ?? err.message})`);
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${jsonPath}: not valid JSON`);
  }
  if (!json || typeof json !== 'object' || !json.modelTopology) {
    throw new Error(`${jsonPath}: not a tfjs model (no modelTopology)`);
  }
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      let groupBytes = 0;
      const groupBuffers: Uint8Array[] = [];
      for (const p of group.paths) {
        // Inside the model's folder, symlinks resolved, before anything is read (model-paths.ts).
        const file = await modelShardPath(jsonPath, dir, p);
        const bytes = await readFile(file).catch((err) => {
          throw new Error(`${file}: missing weight shard (${err.code ?? err.message})`);
        });
        groupBuffers.push(bytes);
        groupBytes += bytes.byteLength;
      }
      const expected = group.weights.reduce((sum, w) => sum + weightBytes(w), 0);
      if (groupBytes !== expected) {
        throw new Error(
          `${join(dir, group.paths[0])}: weight shards hold ${groupBytes} bytes but the manifest needs ${expected}`,
        );
      }
      specs.push(...group.weights);
      for (const b of groupBuffers)
        buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
    return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
  });
  const model =
    json.format === 'graph-model'
      ? graphAsLayersModel(await tf.loadGraphModel(tf.io.fromMemory(artifacts)), jsonPath)
      : await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  return { model, metadata: (json.userDefinedMetadata ?? {}) as Record<string, unknown> };
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2 };

function weightBytes(w: tf.io.WeightsManifestEntry): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (w.quantization) return n * (w.quantization.dtype === 'uint8' ? 1 : 2);
  return n * (DTYPE_BYTES[w.dtype] ?? 4);
}

/** True when `dir` holds a model.json. */
export async function hasModel(dir: string): Promise<boolean> {
  return stat(join(dir, MODEL_JSON)).then(
    () => true,
    () => false,
  );
}
