/**
 * The one way to open a dataset for a model: an IDX dataset (mnist, fashion-mnist, or a folder of the
 * four IDX files), an image folder (ROOT/<class>/<image>, flat images with a labels CSV, or flat images
 * without labels), or, with no --dataset, a training run's own held-out data. Images come out as bytes
 * at the model's input size (decoded a chunk at a time for folders), to be preprocessed with the model's
 * preprocessing (core data/batches.ts `preprocess`), so every command sees the same pixels.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { newLabels } from '@convlens/core/data/split';
import type { DataProvenance, ImageSet, LabelArray } from '@convlens/core/data/types';
import { DATASET_NAMES } from '../data/catalog.ts';
import type { DownloadOptions } from '../data/download.ts';
import { loadDataset } from '../data/load.ts';
import { scanDatasetDir } from '../data/resolve.ts';
import { readImage } from '../io/png.ts';
import { planRunData } from '../train/data-plan.ts';
import { mapClasses } from './class-map.ts';
import { type ImageFile, listImages } from './image-files.ts';
import type { OpenedModel } from './open-model.ts';

export type OnCorrupt = 'skip' | 'fail';

export interface OpenDatasetOptions {
  dataDir?: string;
  download?: boolean;
  downloadOptions?: DownloadOptions;
  /** Labels CSV (file,label) for a flat image folder (default: ROOT/labels.csv when present). */
  labelsCsv?: string;
  /** Unreadable images: skip them (reported through log) or fail (default). */
  onCorrupt?: OnCorrupt;
  /** Fail when a class folder or CSV label is not one of the model's classes. */
  strictClasses?: boolean;
  /** IDX datasets other than the run's own: which split (default test). */
  split?: 'test' | 'train';
  log?: (s: string) => void;
}

export interface Chunk {
  /** Bytes at the model's size; labels are the model's class indices. */
  set: ImageSet;
  /** Dataset indices of set's images (corrupt files skipped). */
  indices: Uint32Array;
}

export interface OpenedDataset {
  kind: 'idx' | 'image-folder';
  /** As given (or the run's dataset). */
  name: string;
  /** One line: what these images are, e.g. "mnist test split (10,000 images)". */
  description: string;
  count: number;
  labelled: boolean;
  /** Model class index per image (all 0 when unlabelled). */
  labels: LabelArray;
  /** The model's class names (labels index them). */
  classNames: string[];
  numClasses: number;
  height: number;
  width: number;
  channels: number;
  /** File path (folders) or "mnist test #12" (IDX) of image i. */
  source(i: number): string;
  /** Bytes of the given images at the model's size (corrupt files skipped with onCorrupt 'skip'). */
  read(indices: ArrayLike<number>): Promise<Chunk>;
  /** read() in chunks of `size` over `indices` (default all), in order. */
  chunks(indices?: ArrayLike<number>, size?: number): AsyncGenerator<Chunk>;
  /** Files skipped so far as unreadable. */
  skipped: { path: string; reason: string }[];
  /** The whole set in memory (IDX only). */
  whole?: ImageSet;
  provenance?: DataProvenance;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** Opens `spec` (or the run's held-out data when spec is absent) for `model`. */
export async function openDataset(
  spec: string | undefined,
  model: OpenedModel,
  o: OpenDatasetOptions = {},
): Promise<OpenedDataset> {
  const run = model.run;
  if (!spec || (run && spec === run.config.dataset && !o.split)) {
    if (!run)
      throw new Error(
        `--dataset is required: ${model.source} is not a training run (give an image folder or an IDX dataset)`,
      );
    return runHeldOut(model, o);
  }
  if ((DATASET_NAMES as readonly string[]).includes(spec)) return idx(spec, model, o);
  const s = await stat(spec).catch(() => null);
  if (!s)
    throw new Error(
      `--dataset ${spec}: not a dataset name (${DATASET_NAMES.join(', ')}) or an existing folder`,
    );
  if (!s.isDirectory())
    throw new Error(`--dataset ${spec}: not a folder (give a folder of images or IDX files)`);
  if ((await scanDatasetDir(spec)).files) return idx(spec, model, o);
  return imageFolder(spec, model, o);
}

async function runHeldOut(model: OpenedModel, o: OpenDatasetOptions): Promise<OpenedDataset> {
  const config = model.run!.config;
  const plan = await planRunData(config, o);
  const set = plan.test ?? plan.val;
  const what = plan.test ? 'test split' : 'held-out validation split (split from the test set)';
  return inMemory(config.dataset, `${config.dataset} ${what}`, set, model, plan.provenance);
}

async function idx(spec: string, model: OpenedModel, o: OpenDatasetOptions): Promise<OpenedDataset> {
  const split = o.split ?? 'test';
  const loaded = await loadDataset(spec, {
    dataDir: o.dataDir,
    download: o.download,
    downloadOptions: o.downloadOptions,
    train: split === 'train',
  });
  const set = split === 'train' ? loaded.train : loaded.test;
  if (!set) throw new Error(`--dataset ${spec}: has no training images`);
  return inMemory(spec, `${spec} ${split} split`, set, model, loaded.provenance);
}

function checkGeometry(name: string, set: ImageSet, model: OpenedModel): void {
  const [h, w, c] = model.inputShape;
  if (set.height !== h || set.width !== w || set.channels !== c)
    throw new Error(
      `dataset ${name}: images are ${set.height}×${set.width}×${set.channels}, the model expects ${h}×${w}×${c}`,
    );
  if (set.numClasses > model.numClasses)
    throw new Error(
      `dataset ${name}: has ${set.numClasses} classes, the model only ${model.numClasses} outputs`,
    );
}

function inMemory(
  name: string,
  what: string,
  set: ImageSet,
  model: OpenedModel,
  provenance?: DataProvenance,
): OpenedDataset {
  checkGeometry(name, set, model);
  const size = set.height * set.width * set.channels;
  const read = async (indices: ArrayLike<number>): Promise<Chunk> => {
    const idx = Uint32Array.from(indices);
    const images = new Uint8Array(idx.length * size);
    const labels = newLabels(set.labels, idx.length);
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k];
      if (!(i < set.count))
        throw new Error(`image index ${i} is out of range: ${what} has ${set.count} images`);
      images.set(set.images.subarray(i * size, (i + 1) * size), k * size);
      labels[k] = set.labels[i];
    }
    return { set: { ...set, images, labels, count: idx.length }, indices: idx };
  };
  return {
    kind: 'idx',
    name,
    description: `${what} (${fmt(set.count)} images)`,
    count: set.count,
    labelled: true,
    labels: set.labels,
    classNames: model.classNames,
    numClasses: model.numClasses,
    height: set.height,
    width: set.width,
    channels: set.channels,
    source: (i) => `${name} image ${i}`,
    read,
    chunks: (indices, chunk) => chunked(read, indices ?? range(set.count), chunk),
    skipped: [],
    whole: set,
    provenance,
  };
}

const range = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

async function* chunked(
  read: (i: ArrayLike<number>) => Promise<Chunk>,
  indices: ArrayLike<number>,
  size = 256,
): AsyncGenerator<Chunk> {
  const all = Uint32Array.from(indices);
  for (let s = 0; s < all.length; s += size) yield read(all.subarray(s, s + size));
}

async function imageFolder(root: string, model: OpenedModel, o: OpenDatasetOptions): Promise<OpenedDataset> {
  const listing = await listImages(root, o.labelsCsv);
  let files: ImageFile[] = listing.files;
  const labelled = listing.layout !== 'unlabelled';
  let mapping = '';
  if (labelled) {
    const map = mapClasses(listing.classNames, model.classNames, model.named, {
      strict: o.strictClasses,
      source: root,
    });
    if (map.unknown.length) {
      const dropped = files.filter((f) => map.toModel[f.label] < 0).length;
      o.log?.(
        `notice: ${root}: ${map.unknown.length} class(es) the model does not know (${map.unknown.slice(0, 3).join(', ')}${map.unknown.length > 3 ? ', …' : ''}): ${dropped} image(s) left out`,
      );
    }
    if (map.how === 'sorted-order' && model.named)
      o.log?.(`notice: ${root}: class names do not match the model's; classes taken in sorted folder order`);
    mapping = map.how;
    files = files
      .filter((f) => map.toModel[f.label] >= 0)
      .map((f) => ({ ...f, label: map.toModel[f.label] }));
  }
  const [height, width, channels] = model.inputShape;
  const size = height * width * channels;
  const LabelType = model.numClasses > 256 ? Uint16Array : Uint8Array;
  const labels: LabelArray = new LabelType(files.length);
  files.forEach((f, i) => {
    labels[i] = Math.max(0, f.label);
  });
  const skipped: { path: string; reason: string }[] = [];
  const onCorrupt = o.onCorrupt ?? 'fail';
  const read = async (indices: ArrayLike<number>): Promise<Chunk> => {
    const idx = Uint32Array.from(indices);
    const decoded = await mapLimit(Array.from(idx), 4, async (i) => {
      const f = files[i];
      if (!f) throw new Error(`image index ${i} is out of range: ${root} has ${files.length} images`);
      try {
        return (
          await readImage(f.path, {
            height,
            width,
            channels: channels as 1 | 3,
            resize: model.preprocess.resize,
          })
        ).pixels;
      } catch (err: any) {
        if (onCorrupt === 'fail') throw new Error(`${err.message} (--on-corrupt skip leaves such files out)`);
        // Reported once, however many passes read the file (stats then top-9, …).
        if (!skipped.some((s) => s.path === f.path)) {
          skipped.push({ path: f.path, reason: err.message });
          o.log?.(`skipped: ${err.message}`);
        }
        return undefined;
      }
    });
    const kept = idx.filter((_, k) => decoded[k] !== undefined);
    const images = new Uint8Array(kept.length * size);
    const chunkLabels = new LabelType(kept.length);
    let k = 0;
    for (const [j, px] of decoded.entries()) {
      if (!px) continue;
      for (let p = 0; p < size; p++) images[k * size + p] = Math.round(px[p] * 255);
      chunkLabels[k] = labels[idx[j]];
      k++;
    }
    const set: ImageSet = {
      images,
      labels: chunkLabels,
      count: kept.length,
      height,
      width,
      channels,
      numClasses: model.numClasses,
      classNames: model.classNames,
      labelled,
    };
    return { set, indices: kept };
  };
  const layout =
    listing.layout === 'class-folders'
      ? `class folders, matched by ${mapping}`
      : listing.layout === 'labels-csv'
        ? `labels CSV, matched by ${mapping}`
        : 'no labels';
  return {
    kind: 'image-folder',
    name: root,
    description: `image folder ${root} (${fmt(files.length)} images, ${layout})`,
    count: files.length,
    labelled,
    labels,
    classNames: model.classNames,
    numClasses: model.numClasses,
    height,
    width,
    channels,
    source: (i) => shortPath(files[i]?.path ?? ''),
    read,
    chunks: (indices, chunk) => chunked(read, indices ?? range(files.length), chunk),
    skipped,
  };
}

/** Relative to the working directory when inside it, else absolute (no '../../tmp/…'). */
function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : resolve(path);
}

/** Runs fn over items with at most `limit` in flight; results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads `batches` in order, decoding the next one while the caller works on the current one. */
export async function* readAhead(d: OpenedDataset, batches: Uint32Array[]): AsyncGenerator<Chunk> {
  let next = batches.length ? d.read(batches[0]) : undefined;
  for (let i = 0; i < batches.length; i++) {
    const current = await next!;
    next = i + 1 < batches.length ? d.read(batches[i + 1]) : undefined;
    next?.catch(() => {}); // surfaced when awaited
    yield current;
  }
}
