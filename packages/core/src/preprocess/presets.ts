/**
 * Preprocessing presets: how [0,1] RGB/grey pixels (what io readers produce) become a model's input.
 * Stored with a model as preprocess.json next to model.json, so a loaded model is fed the way it was trained.
 */
import type { StandardizerJSON } from '../data/standardize.ts';

export const PRESETS = ['scale01', 'scale-1-1', 'caffe', 'torch', 'per-pixel', 'range'] as const;
export type PresetName = (typeof PRESETS)[number];

/** ImageNet channel statistics used by Caffe (BGR means on 0..255) and torchvision (RGB mean/std on 0..1). */
export const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68];
export const TORCH_MEAN = [0.485, 0.456, 0.406];
export const TORCH_STD = [0.229, 0.224, 0.225];

/** How an image file of another size becomes the model's size: stretch, or shorter side then centre crop. */
export const RESIZE_MODES = ['fill', 'crop'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

export interface Preprocess {
  preset: PresetName;
  /** Required for 'per-pixel': statistics computed on the training set (data/standardize.ts). */
  standardizer?: StandardizerJSON;
  /** Required for 'range': [0,1] pixels map linearly onto [low, high]. */
  range?: [number, number];
  /** Resize policy for images of another size (default: see defaultResize). */
  resize?: ResizeMode;
  /** Class names, index = output unit. */
  classNames?: string[];
}

/**
 * Keras and torchvision resize ImageNet photos by their shorter side and crop the centre; small inputs
 * (MNIST-size) are plainly resized, as the digits fill the frame.
 */
export function defaultResize(height: number, width: number): ResizeMode {
  return Math.min(height, width) >= 96 ? 'crop' : 'fill';
}

/** The preset for a linear pixel range (0,1 and -1,1 have names of their own). */
export function presetForRange(range: [number, number]): Preprocess {
  if (range[0] === 0 && range[1] === 1) return { preset: 'scale01' };
  if (range[0] === -1 && range[1] === 1) return { preset: 'scale-1-1' };
  return { preset: 'range', range };
}

/** Parses 'LOW,HIGH' (the --input-range flag). */
export function parseRange(s: string, flag = '--input-range'): [number, number] {
  const parts = s.split(',').map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
  if (parts.length !== 2 || !parts.every(Number.isFinite) || parts[0] >= parts[1])
    throw new Error(`${flag} must be LOW,HIGH with LOW < HIGH (e.g. 0,1 or -1,1), got '${s}'`);
  return parts as [number, number];
}

/** One line for logs and reports, e.g. 'scale-1-1 (x·2 − 1)'. */
export function describePreprocess(p: Preprocess): string {
  switch (p.preset) {
    case 'scale01':
      return 'scale01 (pixels in [0, 1])';
    case 'scale-1-1':
      return 'scale-1-1 (pixels in [-1, 1])';
    case 'range':
      return `range (pixels in [${p.range?.join(', ')}])`;
    case 'caffe':
      return 'caffe (BGR, 0–255 minus the ImageNet mean)';
    case 'torch':
      return 'torch (RGB, ImageNet mean/std on [0, 1])';
    case 'per-pixel':
      return 'per-pixel standardization (training statistics)';
  }
}

/**
 * Applies the preset to `pixels` (H·W·C floats in [0,1], NHWC, no batch axis) and returns a new array.
 * caffe: RGB→BGR, ×255, minus the BGR mean (Keras's `preprocess_input(mode='caffe')`, VGG/ResNet50).
 * torch: (x − mean)/std per RGB channel (`mode='torch'`). scale-1-1: 2x − 1 (`mode='tf'`, MobileNet/Inception).
 */
export function applyPreprocess(
  p: Preprocess,
  pixels: Float32Array,
  channels: number,
  /** Images in `pixels` (per-pixel statistics repeat per image). */
  images = 1,
): Float32Array {
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
    case 'range': {
      const [lo, hi] = checkedRange(p);
      for (let i = 0; i < pixels.length; i++) out[i] = lo + pixels[i] * (hi - lo);
      break;
    }
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
      const n = s.mean.length;
      if (n * images !== pixels.length)
        throw new Error(`per-pixel statistics are for ${n} values, image has ${pixels.length / images}`);
      for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] - s.mean[i % n]) / s.std[i % n];
      break;
    }
    default:
      throw new Error(
        `unknown preprocessing preset '${(p as Preprocess).preset}' (expected ${PRESETS.join(', ')})`,
      );
  }
  return out;
}

function checkedRange(p: Preprocess): [number, number] {
  const r = p.range;
  if (r?.length !== 2 || !(r[0] < r[1]))
    throw new Error('preset range needs range [low, high] with low < high');
  return r;
}

/**
 * The inverse of applyPreprocess: model input → [0,1] pixels (not clamped), so a synthesized input can be
 * written as an image and read back to the same model input.
 */
export function invertPreprocess(p: Preprocess, x: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(x.length);
  switch (p.preset) {
    case 'scale01':
      out.set(x);
      break;
    case 'scale-1-1':
      for (let i = 0; i < x.length; i++) out[i] = (x[i] + 1) / 2;
      break;
    case 'range': {
      const [lo, hi] = checkedRange(p);
      for (let i = 0; i < x.length; i++) out[i] = (x[i] - lo) / (hi - lo);
      break;
    }
    case 'caffe':
      if (channels !== 3) throw new Error(`preset caffe needs RGB input, got ${channels} channel(s)`);
      for (let i = 0; i < x.length; i += 3)
        for (let c = 0; c < 3; c++) out[i + 2 - c] = (x[i + c] + CAFFE_BGR_MEAN[c]) / 255;
      break;
    case 'torch':
      if (channels !== 3) throw new Error(`preset torch needs RGB input, got ${channels} channel(s)`);
      for (let i = 0; i < x.length; i++) {
        const c = i % 3;
        out[i] = x[i] * TORCH_STD[c] + TORCH_MEAN[c];
      }
      break;
    case 'per-pixel': {
      const s = p.standardizer;
      if (!s) throw new Error('preset per-pixel needs the training statistics (standardizer)');
      if (s.mean.length !== x.length)
        throw new Error(`per-pixel statistics are for ${s.mean.length} values, input has ${x.length}`);
      for (let i = 0; i < x.length; i++) out[i] = x[i] * s.std[i] + s.mean[i];
      break;
    }
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
    o.preset === 'range' &&
    !(
      Array.isArray(o.range) &&
      o.range.length === 2 &&
      o.range.every(Number.isFinite) &&
      o.range[0] < o.range[1]
    )
  )
    throw new Error(`${source}: preset range needs range [low, high] with low < high`);
  if (o.resize !== undefined && !RESIZE_MODES.includes(o.resize))
    throw new Error(`${source}: resize must be one of ${RESIZE_MODES.join(', ')}, got '${String(o.resize)}'`);
  if (
    o.classNames !== undefined &&
    (!Array.isArray(o.classNames) || o.classNames.some((c) => typeof c !== 'string'))
  )
    throw new Error(`${source}: classNames must be an array of strings`);
  return {
    preset: o.preset as PresetName,
    standardizer: o.standardizer,
    ...(o.range ? { range: o.range } : {}),
    ...(o.resize ? { resize: o.resize } : {}),
    classNames: o.classNames,
  };
}

/** Class names from a tfjs metadata.json ({labels: [...]}) or a plain array. */
export function classNamesFromMetadata(json: unknown): string[] | undefined {
  const labels = Array.isArray(json) ? json : (json as { labels?: unknown } | null)?.labels;
  return Array.isArray(labels) && labels.every((l) => typeof l === 'string') ? labels : undefined;
}
