/**
 * Preprocessing presets: how [0,1] RGB/grey pixels (what io readers produce) become a model's input.
 * Stored with a model as preprocess.json next to model.json, so a loaded model is fed the way it was trained.
 */
import type { StandardizerJSON } from '../data/standardize.ts';

export const PRESETS = ['scale01', 'scale-1-1', 'caffe', 'torch', 'per-pixel'] as const;
export type PresetName = (typeof PRESETS)[number];

/** ImageNet channel statistics used by Caffe (BGR means on 0..255) and torchvision (RGB mean/std on 0..1). */
export const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68];
export const TORCH_MEAN = [0.485, 0.456, 0.406];
export const TORCH_STD = [0.229, 0.224, 0.225];

export interface Preprocess {
  preset: PresetName;
  /** Required for 'per-pixel': statistics computed on the training set (data/standardize.ts). */
  standardizer?: StandardizerJSON;
  /** Class names, index = output unit. */
  classNames?: string[];
}

/**
 * Applies the preset to `pixels` (H·W·C floats in [0,1], NHWC, no batch axis) and returns a new array.
 * caffe: RGB→BGR, ×255, minus the BGR mean (Keras's `preprocess_input(mode='caffe')`, VGG/ResNet50).
 * torch: (x − mean)/std per RGB channel (`mode='torch'`). scale-1-1: 2x − 1 (`mode='tf'`, MobileNet/Inception).
 */
export function applyPreprocess(p: Preprocess, pixels: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(pixels.length);
  const needsRgb = p.preset === 'caffe' || p.preset === 'torch';
  if (needsRgb && channels !== 3)
    throw new Error(`preset ${p.preset} needs RGB input, got ${channels} channel(s)`);
  switch (p.preset) {
    case 'scale01':
      out.set(pixels);
      break;
    case 'scale-1-1':
      for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] * 2 - 1;
      break;
    case 'caffe':
      for (let i = 0; i < pixels.length; i += 3)
        for (let c = 0; c < 3; c++) out[i + c] = pixels[i + 2 - c] * 255 - CAFFE_BGR_MEAN[c];
      break;
    case 'torch':
      for (let i = 0; i < pixels.length; i++) {
        const c = i % 3;
        out[i] = (pixels[i] - TORCH_MEAN[c]) / TORCH_STD[c];
      }
      break;
    case 'per-pixel': {
      const s = p.standardizer;
      if (!s) throw new Error('preset per-pixel needs the training statistics (standardizer)');
      if (s.mean.length !== pixels.length)
        throw new Error(`per-pixel statistics are for ${s.mean.length} values, image has ${pixels.length}`);
      for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] - s.mean[i]) / s.std[i];
      break;
    }
    default:
      throw new Error(
        `unknown preprocessing preset '${(p as Preprocess).preset}' (expected ${PRESETS.join(', ')})`,
      );
  }
  return out;
}

/** Validates parsed preprocess.json content; `source` names the file in errors. */
export function parsePreprocess(json: unknown, source: string): Preprocess {
  const o = json as Partial<Preprocess> | null;
  if (!o || typeof o !== 'object') throw new Error(`${source}: preprocessing must be a JSON object`);
  if (!PRESETS.includes(o.preset as PresetName))
    throw new Error(`${source}: unknown preset '${String(o.preset)}' (expected ${PRESETS.join(', ')})`);
  if (o.preset === 'per-pixel' && !o.standardizer?.mean)
    throw new Error(`${source}: preset per-pixel needs standardizer statistics`);
  if (
    o.classNames !== undefined &&
    (!Array.isArray(o.classNames) || o.classNames.some((c) => typeof c !== 'string'))
  )
    throw new Error(`${source}: classNames must be an array of strings`);
  return { preset: o.preset as PresetName, standardizer: o.standardizer, classNames: o.classNames };
}

/** Class names from a tfjs metadata.json ({labels: [...]}) or a plain array. */
export function classNamesFromMetadata(json: unknown): string[] | undefined {
  const labels = Array.isArray(json) ? json : (json as { labels?: unknown } | null)?.labels;
  return Array.isArray(labels) && labels.every((l) => typeof l === 'string') ? labels : undefined;
}
