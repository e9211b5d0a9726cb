/**
 * ImageFolder datasets: ROOT/<class>/<image>, one subfolder per class (sorted names = class indices).
 * Images are decoded by sharp (PNG, JPEG, WebP, …), resized to the model's input, preprocessed with the
 * model's preset and streamed in batches, so a dataset never has to fit in memory.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type AugmentParams, createAugmenter, isIdentityParams } from '@convlens/core/data/augment';
import { createRng, shuffleInPlace } from '@convlens/core/data/rng';
import { applyPreprocess, type Preprocess } from '@convlens/core/preprocess/presets';
import { readImage } from '../io/png.ts';

export interface ImageItem {
  path: string;
  label: number;
}

export interface ImageFolder {
  root: string;
  classNames: string[];
  items: ImageItem[];
}

export interface Geometry {
  height: number;
  width: number;
  channels: 1 | 3;
}

export type OnCorrupt = 'skip' | 'fail';

/** Lists classes and files (hidden files ignored; non-images are found when read). */
export async function scanImageFolder(root: string): Promise<ImageFolder> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err: any) {
    throw new Error(`${root}: cannot read image folder (${err.code === 'ENOENT' ? 'not found' : err.code})`);
  }
  const classNames = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (classNames.length < 2)
    throw new Error(
      `${root}: needs at least 2 class subfolders (layout ROOT/<class>/<image>), found ${classNames.length}`,
    );
  const items: ImageItem[] = [];
  for (const [label, name] of classNames.entries()) {
    const files = (await readdir(join(root, name), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    if (files.length === 0) throw new Error(`${join(root, name)}: class folder holds no files`);
    for (const f of files) items.push({ path: join(root, name, f), label });
  }
  return { root, classNames, items };
}

/** Seeded shuffle, then the last `valFraction` (at least one image when > 0) is validation. */
export function splitItems(
  items: ImageItem[],
  valFraction: number,
  seed: number,
): { train: ImageItem[]; val: ImageItem[] } {
  const shuffled = shuffleInPlace([...items], createRng(seed));
  const nVal = valFraction > 0 ? Math.max(1, Math.round(items.length * valFraction)) : 0;
  if (nVal >= items.length) throw new Error(`validation split ${valFraction} leaves no training images`);
  return { train: shuffled.slice(0, items.length - nVal), val: shuffled.slice(items.length - nVal) };
}

export interface Batch {
  /** n·H·W·C preprocessed floats. */
  x: Float32Array;
  labels: Int32Array;
  n: number;
  /** Paths in batch order (corrupt skipped ones excluded). */
  paths: string[];
}

export interface StreamOptions {
  geometry: Geometry;
  preprocess: Preprocess;
  batchSize: number;
  onCorrupt: OnCorrupt;
  augment?: AugmentParams;
  seed?: number;
  /** Called with the path and reason of every skipped file. */
  onSkip?: (path: string, reason: string) => void;
}

/** Reads, resizes, (augments) and preprocesses `items` in order, batchSize images in memory at a time. */
export async function* streamBatches(items: ImageItem[], o: StreamOptions): AsyncGenerator<Batch> {
  const { height, width, channels } = o.geometry;
  const size = height * width * channels;
  const augment =
    o.augment && !isIdentityParams(o.augment) ? createAugmenter(o.augment, o.seed ?? 1) : undefined;
  for (let start = 0; start < items.length; start += o.batchSize) {
    const chunk = items.slice(start, start + o.batchSize);
    const x = new Float32Array(chunk.length * size);
    const labels = new Int32Array(chunk.length);
    const paths: string[] = [];
    for (const item of chunk) {
      let pixels: Float32Array;
      try {
        pixels = (await readImage(item.path, { height, width, channels })).pixels;
      } catch (err: any) {
        if (o.onCorrupt === 'fail') throw err;
        o.onSkip?.(item.path, err.message);
        continue;
      }
      if (augment) pixels = augment(pixels, height, width, channels);
      x.set(applyPreprocess(o.preprocess, pixels, channels), paths.length * size);
      labels[paths.length] = item.label;
      paths.push(item.path);
    }
    if (paths.length)
      yield {
        x: x.subarray(0, paths.length * size),
        labels: labels.subarray(0, paths.length),
        n: paths.length,
        paths,
      };
  }
}
