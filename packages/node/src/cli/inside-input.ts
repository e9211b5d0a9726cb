/** Input for single-image commands: an image file or a dataset example, preprocessed as the run was trained. */
import { applyStandardizer } from '@convlens/core/data/standardize';
import type { ImageSet } from '@convlens/core/data/types';
import { loadDataset } from '../data/load.ts';
import { readImage } from '../io/png.ts';
import type { LoadedRun } from '../train/load-run.ts';
import { downloadProgress } from './download-progress.ts';

export interface InputImage {
  /** Model input (H·W·C floats, scaled and standardized as in training). */
  x: Float32Array;
  /** The same image as bytes, for drawing. */
  bytes: Uint8Array;
  label?: number;
  source: string;
}

export interface DataSourceOptions {
  dataset?: string;
  dataDir?: string;
  download?: boolean;
}

/** The test split of --dataset (default: the run's dataset), checked against the model's input shape. */
export async function loadEvalSet(
  run: LoadedRun,
  opts: DataSourceOptions,
  log: (s: string) => void,
): Promise<{ name: string; set: ImageSet }> {
  const name = opts.dataset ?? run.config.dataset;
  const loaded = await loadDataset(name, {
    dataDir: opts.dataDir,
    download: opts.download,
    downloadOptions: downloadProgress(log),
    train: false,
  });
  const set = loaded.test;
  const [h, w, c] = run.config.inputShape;
  if (set.height !== h || set.width !== w || set.channels !== c) {
    throw new Error(
      `dataset ${name}: images are ${set.height}×${set.width}×${set.channels}, the model expects ${h}×${w}×${c}`,
    );
  }
  return { name, set };
}

export async function loadInput(
  run: LoadedRun,
  opts: DataSourceOptions & { image?: string; index?: number },
  log: (s: string) => void,
): Promise<InputImage> {
  const [h, w, c] = run.config.inputShape;
  let x: Float32Array;
  let label: number | undefined;
  let source: string;
  if (opts.image !== undefined) {
    if (opts.index !== undefined) throw new Error('give either --image or --index, not both');
    if (c !== 1 && c !== 3)
      throw new Error(`the model reads ${c}-channel input; image files give 1 or 3 channels`);
    const img = await readImage(opts.image, { width: w, height: h, channels: c });
    const o = img.original;
    // Alpha is dropped silently; a change of size or colour channels is worth a notice.
    const colour = o.channels >= 3 ? 3 : 1;
    if (o.width !== w || o.height !== h || colour !== c) {
      log(
        `notice: ${opts.image} is ${o.width}×${o.height}×${colour}; ` +
          `resized/converted to ${w}×${h}×${c} as the model expects`,
      );
    }
    x = img.pixels;
    source = opts.image;
  } else if (opts.index !== undefined) {
    const { name, set } = await loadEvalSet(run, opts, log);
    if (opts.index >= set.count) {
      throw new Error(
        `--index ${opts.index} is out of range: ${name} has ${set.count} test images (0–${set.count - 1})`,
      );
    }
    const size = h * w * c;
    x = Float32Array.from(set.images.subarray(opts.index * size, (opts.index + 1) * size), (b) => b / 255);
    label = set.labels[opts.index];
    source = `${name} test image ${opts.index}`;
  } else {
    throw new Error('give an input: --image FILE or --index N');
  }
  const bytes = Uint8Array.from(x, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  if (run.standardizer) applyStandardizer(run.standardizer, x);
  return { x, bytes, label, source };
}
