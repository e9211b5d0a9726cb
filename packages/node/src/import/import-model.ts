/**
 * `convlens import`: any supported model source → a convlens model folder (model.json + weights.bin +
 * preprocess.json). Sources: a tfjs layers or graph model folder or model.json (local or http(s) URL; graph
 * models are wrapped as one layer, see models/graph-layers.ts), Keras .h5, Keras .keras, ONNX (onnx-file.ts).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { tf } from '@convlens/core/engine/backend';
import { classNamesFromMetadata, type Preprocess } from '@convlens/core/preprocess/presets';
import { loadModel } from '../io/model-io.ts';
import { loadKerasH5 } from './keras-h5.ts';
import { loadKerasZip } from './keras-zip.ts';
import { loadOnnxFile, type OnnxLoadOptions } from './onnx-file.ts';
import { fetchLayersModel } from './tfjs-url.ts';

export type SourceKind = 'tfjs-url' | 'tfjs' | 'keras-h5' | 'keras-zip' | 'onnx';

export interface ImportedModel {
  model: tf.LayersModel;
  kind: SourceKind;
  /** From the source's metadata.json / userDefinedMetadata, when present. */
  classNames?: string[];
}

export function sourceKind(source: string): SourceKind {
  if (/^https?:\/\//.test(source)) return 'tfjs-url';
  if (/\.(h5|hdf5)$/i.test(source)) return 'keras-h5';
  if (/\.keras$/i.test(source)) return 'keras-zip';
  if (/\.onnx$/i.test(source)) return 'onnx';
  return 'tfjs';
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err: any) {
    throw new Error(`${path}: cannot read (${err.code === 'ENOENT' ? 'file not found' : err.code})`);
  }
}

async function localSideMetadata(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

export async function importModel(source: string, o: OnnxLoadOptions = {}): Promise<ImportedModel> {
  const kind = sourceKind(source);
  if (kind === 'onnx') return { model: (await loadOnnxFile(source, o)).model, kind };
  if (kind === 'tfjs-url') {
    const r = await fetchLayersModel(source);
    return {
      model: r.model,
      kind,
      classNames: classNamesFromMetadata(r.sideMetadata) ?? classNamesFromMetadata(r.metadata),
    };
  }
  if (kind === 'keras-h5') return { model: await loadKerasH5(await readBytes(source), source), kind };
  if (kind === 'keras-zip') return { model: await loadKerasZip(await readBytes(source), source), kind };
  const { model, metadata } = await loadModel(source);
  const dir = source.endsWith('.json') ? dirname(source) : source;
  const classNames = classNamesFromMetadata(await localSideMetadata(dir)) ?? classNamesFromMetadata(metadata);
  return { model, kind, classNames };
}

/** Input geometry of an image model (NHWC), for resizing images to it. */
export function inputGeometry(model: tf.LayersModel): { height: number; width: number; channels: 1 | 3 } {
  const shape = model.inputs[0].shape;
  const [, h, w, c] = shape;
  if (shape.length !== 4 || !h || !w || (c !== 1 && c !== 3))
    throw new Error(`model input shape [${shape}] is not an NHWC image with 1 or 3 channels`);
  return { height: h, width: w, channels: c };
}

export type { Preprocess };
