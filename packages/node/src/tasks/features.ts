/**
 * The features job (the lecture's transfer-learning recipe): one row per image of a layer's output,
 * pooled (avg/max over positions) or flattened, written as features.npy (float32 N×F, np.load-able),
 * labels.csv (index,file,label,class,split; pandas-readable) and index.json (model fingerprint, layer,
 * preprocessing, dataset identity, shard). Streamed a batch at a time; shards merge like stats partials.
 * Image folders are read by their own classes (a folder of T-shirts is not mapped onto ImageNet's).
 */
import { stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { stratifiedSplit } from '@convlens/core/data/split';
import { tf } from '@convlens/core/engine/backend';
import { type FeaturePool, pooledWidth, poolRows } from '@convlens/core/features/pool';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import { probeableLayers } from '@convlens/core/inspect/probe';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { encodeNpy } from '@convlens/core/methods/actmax/npy';
import { resolveLayerName } from '@convlens/core/models/layer-aliases';
import { describePreprocess } from '@convlens/core/preprocess/presets';
import { shardRange } from '@convlens/core/stats/dataset-stats';
import { DATASET_NAMES } from '../data/catalog.ts';
import { scanDatasetDir } from '../data/resolve.ts';
import { type Features, type FeaturesIndex, readFeatures } from '../features/read-features.ts';
import { checkOutDir } from '../figures/figure-set.ts';
import { writeDirAtomic, writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { datasetFingerprint } from '../open/dataset-fingerprint.ts';
import { listImages } from '../open/image-files.ts';
import { type OpenDatasetOptions, type OpenedDataset, openDataset, readAhead } from '../open/open-dataset.ts';
import { type OpenedModel, type OpenModelOptions, openModel } from '../open/open-model.ts';
import { isBig, layersModel } from './layer-choice.ts';

export const FEATURES_FORMAT = 'convlens-features';

export interface FeaturesOptions {
  /** A model source, or an already opened model (the lab's). */
  model: string | OpenedModel;
  /** A dataset spec (undefined: a run's held-out data), or a dataset opened with openFeatureDataset. */
  dataset?: string | FeatureDataset;
  layer: string;
  /** Output folder, replaced atomically. */
  out: string;
  /** Default avg. */
  pool?: FeaturePool;
  /** Shard i of n (0-based index), contiguous over the (limited) images. */
  shard?: { index: number; count: number };
  /** Only N images: the first N of an IDX set, N evenly spaced ones of an image folder. */
  limit?: number;
  /** Image folders: the test share of each class (default 0.2). */
  testFraction?: number;
  /** Seed of the image-folder split (default 1). */
  seed?: number;
  /** Default 256 (32 on a big model). */
  batchSize?: number;
  openModel?: OpenModelOptions;
  openDataset?: OpenDatasetOptions;
}

export interface FeaturesSummary {
  out: string;
  layer: string;
  pool: FeaturePool;
  rows: number;
  features: number;
  layerShape: number[];
  classes: number;
  train: number;
  test: number;
  shard: string;
  seconds: number;
  imagesPerSecond: number;
  skipped: number;
}

/** A dataset opened for features: its own class names and per-image relative file names. */
export interface FeatureDataset {
  data: OpenedDataset;
  /** The dataset's own class names (label values index them). */
  classNames: string[];
  /** Relative path (folders) or idx:<split>:<i> of image i. */
  file(i: number): string;
  /** IDX: the split the images come from; folders: undefined (a seeded split is made). */
  split?: 'train' | 'test';
}

/**
 * Opens `spec` for `model` keeping an image folder's own classes: the folder is opened against a
 * stand-in of the model whose class names are the folder's, so every class maps onto itself.
 */
export async function openFeatureDataset(
  spec: string | undefined,
  model: OpenedModel,
  o: OpenDatasetOptions = {},
): Promise<FeatureDataset> {
  const folder =
    spec &&
    !(DATASET_NAMES as readonly string[]).includes(spec) &&
    (await stat(spec).catch(() => null))?.isDirectory() &&
    !(await scanDatasetDir(spec)).files;
  if (!folder) {
    const data = await openDataset(spec, model, o);
    const split =
      spec && !(model.run && spec === model.run.config.dataset && !o.split) ? (o.split ?? 'test') : 'test';
    const names = data.whole?.classNames?.length ? data.whole.classNames : data.classNames;
    return { data, classNames: names, file: (i) => `idx:${split}:${i}`, split };
  }
  const listing = await listImages(spec, o.labelsCsv);
  const own = listing.classNames;
  const standIn: OpenedModel =
    own.length > 0
      ? { ...model, classNames: own, named: true, numClasses: own.length, run: undefined }
      : { ...model, run: undefined };
  const data = await openDataset(spec, standIn, o);
  // With its own class names nothing is dropped, so the listing's order is the dataset's.
  const files = listing.files.map((f) => relative(spec, f.path).split('\\').join('/'));
  if (files.length !== data.count)
    throw new Error(`${spec}: listing changed while opening (${files.length} ≠ ${data.count})`);
  return { data, classNames: own, file: (i) => files[i] };
}

/** The images a run covers: all, the first N (IDX), or N evenly spaced (folders are sorted by class). */
function selection(d: OpenedDataset, limit?: number): Uint32Array {
  if (limit === undefined || limit >= d.count) return Uint32Array.from({ length: d.count }, (_, i) => i);
  if (d.kind === 'idx') return Uint32Array.from({ length: limit }, (_, i) => i);
  return Uint32Array.from({ length: limit }, (_, i) => Math.floor((i * d.count) / limit));
}

/** Checks the layer and returns its output shape; unknown names fail listing a few valid ones. */
export function featureLayer(model: tf.LayersModel, name: string): number[] {
  const valid = probeableLayers(model);
  const own = resolveLayerName(model, name);
  const layer = valid.find((l) => l.name === own);
  if (!layer) {
    const names = valid.map((l) => l.name);
    const some =
      names.length <= 8
        ? names
        : [
            ...names.slice(0, 3),
            '…',
            ...names.slice(Math.floor(names.length / 2), Math.floor(names.length / 2) + 1),
            '…',
            ...names.slice(-3),
          ];
    throw new Error(
      `--layer ${name}: no such layer in ${model.name} (${names.length} layers, e.g. ${some.join(', ')})`,
    );
  }
  return (layer.outputShape as number[]).slice(1);
}

/**
 * Pooled rows of `indices` (in order; unreadable images left out) from `layer`, a batch at a time:
 * only the N×F result stays in memory.
 */
export async function featureRows(
  m: OpenedModel,
  fd: FeatureDataset,
  layer: string,
  pool: FeaturePool,
  indices: Uint32Array,
  batchSize?: number,
  hooks: JobHooks = {},
): Promise<{ features: Float32Array; indices: Uint32Array; f: number }> {
  const model = layersModel(m);
  const layerShape = featureLayer(model, layer);
  const d = fd.data;
  const F = pooledWidth(layerShape, pool);
  const per = layerShape.reduce((a, b) => a * b, 1);
  const bs = batchSize ?? (isBig(m) ? 32 : 256);
  const [h, w, c] = m.inputShape;
  const net = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer(resolveLayerName(model, layer)).output as tf.SymbolicTensor,
  });
  const out = new Float32Array(indices.length * F);
  const kept = new Uint32Array(indices.length);
  let n = 0;
  const batches = Array.from({ length: Math.ceil(indices.length / bs) }, (_, b) =>
    indices.subarray(b * bs, (b + 1) * bs),
  );
  let b = 0;
  for await (const chunk of readAhead(d, batches)) {
    checkStop(hooks, 'features');
    const set = chunk.set;
    if (set.count > 0) {
      const x = batchIterator(set, undefined, set.count, { preprocess: m.preprocess }).next().value!.x;
      const y = tf.tidy(() => net.predict(tf.tensor4d(x, [set.count, h, w, c])) as tf.Tensor);
      const values = (await y.data()) as Float32Array;
      y.dispose();
      if (values.length !== set.count * per) throw new Error(`layer ${layer}: unexpected output size`);
      out.set(poolRows(values, set.count, layerShape, pool), n * F);
      kept.set(chunk.indices, n);
      n += chunk.indices.length;
    }
    hooks.onProgress?.(Math.min(++b * bs, indices.length), indices.length);
  }
  return { features: out.subarray(0, n * F), indices: kept.subarray(0, n), f: F };
}

const csvField = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function labelsCsv(rows: { file: string; label: number; className: string; split: string }[]): string {
  const lines = ['index,file,label,class,split'];
  rows.forEach((r, i) => {
    lines.push(`${i},${csvField(r.file)},${r.label < 0 ? '' : r.label},${csvField(r.className)},${r.split}`);
  });
  return `${lines.join('\n')}\n`;
}

export async function extractFeatures(o: FeaturesOptions, hooks: JobHooks = {}): Promise<FeaturesSummary> {
  const log = (s: string) => hooks.log?.(s);
  await checkOutDir(o.out);
  const pool = o.pool ?? 'avg';
  const m = typeof o.model === 'string' ? await openModel(o.model, o.openModel) : o.model;
  try {
    const model = layersModel(m);
    const layerShape = featureLayer(model, o.layer);
    // The layer's own name (an alias such as a PyTorch module name is resolved): index.json and shard
    // merges then agree whichever name was given.
    const layer = resolveLayerName(model, o.layer);
    const fd =
      o.dataset !== undefined && typeof o.dataset !== 'string'
        ? o.dataset
        : await openFeatureDataset(o.dataset, m, o.openDataset);
    const d = fd.data;
    const selected = selection(d, o.limit);
    const shard = o.shard ?? { index: 0, count: 1 };
    const [start, end] = shardRange(selected.length, shard.index, shard.count);
    if (end <= start)
      throw new Error(`shard ${shard.index + 1}/${shard.count} of ${selected.length} images is empty`);
    const mine = selected.subarray(start, end);
    const seed = o.seed ?? 1;
    const testFraction = o.testFraction ?? 0.2;

    // The split is decided over the whole selection, so every shard agrees on it.
    const splitOf = new Map<number, 'train' | 'test'>();
    if (fd.split) for (const i of selected) splitOf.set(i, fd.split);
    else {
      const labels = Uint16Array.from(selected, (i) => (d.labelled ? d.labels[i] : 0));
      const { valIdx } = stratifiedSplit(labels, testFraction, seed);
      for (const i of selected) splitOf.set(i, 'train');
      for (const k of valIdx) splitOf.set(selected[k], 'test');
    }

    const F = pooledWidth(layerShape, pool);
    log(
      `features: ${model.name} ${layer} [${layerShape.join('×')}] → ${pool} (${F} per image) on ${d.description}` +
        `, images ${start}–${end - 1} of ${selected.length}${shard.count > 1 ? ` (shard ${shard.index + 1}/${shard.count})` : ''}`,
    );
    const t0 = performance.now();
    const got = await featureRows(m, fd, layer, pool, mine, o.batchSize, hooks);
    const out = got.features;
    const rows = Array.from(got.indices, (i) => {
      const label = d.labelled ? d.labels[i] : -1;
      return {
        file: fd.file(i),
        label,
        className: label >= 0 ? (fd.classNames[label] ?? String(label)) : '',
        split: splitOf.get(i)!,
      };
    });
    const seconds = (performance.now() - t0) / 1000;
    const skipped = mine.length - rows.length;
    if (skipped) log(`features: ${skipped} unreadable image(s) skipped`);
    const N = rows.length;
    const index: FeaturesIndex = {
      format: FEATURES_FORMAT,
      version: 1,
      model: { source: m.source, fingerprint: modelFingerprint(model) },
      layer: layer,
      pool,
      shape: [N, F],
      layerShape,
      dataset: {
        name: d.name,
        description: d.description,
        count: selected.length,
        fingerprint: await datasetFingerprint(d, { classNames: fd.classNames }),
      },
      preprocess: { text: describePreprocess(m.preprocess), ...stripClassNames(m.preprocess) },
      classNames: fd.classNames,
      seed,
      testFraction,
      shard: shard.count > 1 ? { index: shard.index, count: shard.count, start, end } : null,
      files: { features: 'features.npy', labels: 'labels.csv' },
    };
    await writeFeaturesDir(o.out, index, out.subarray(0, N * F), labelsCsv(rows));
    const train = rows.filter((r) => r.split === 'train').length;
    return {
      out: o.out,
      layer: layer,
      pool,
      rows: N,
      features: F,
      layerShape,
      classes: fd.classNames.length,
      train,
      test: N - train,
      shard: `${shard.index + 1}/${shard.count}`,
      seconds,
      imagesPerSecond: N / seconds,
      skipped,
    };
  } finally {
    if (typeof o.model === 'string') m.dispose();
  }
}

function stripClassNames(p: OpenedModel['preprocess']) {
  const { classNames: _, ...rest } = p;
  return rest;
}

async function writeFeaturesDir(out: string, index: FeaturesIndex, features: Float32Array, csv: string) {
  await writeDirAtomic(out, async (dir) => {
    await writeFileAtomic(join(dir, 'features.npy'), encodeNpy(features, index.shape));
    await writeFileAtomic(join(dir, 'labels.csv'), csv);
    await writeJsonAtomic(join(dir, 'index.json'), index);
  });
}

/**
 * Concatenates shard folders in dataset order into one folder, refusing shards of another model,
 * layer, pooling or dataset, and a missing or repeated shard (each named).
 */
export async function mergeFeatures(dirs: string[], out: string): Promise<FeaturesSummary> {
  if (dirs.length < 2) throw new Error('features merge needs at least two shard folders');
  await checkOutDir(out);
  const t0 = performance.now();
  const parts: { dir: string; f: Features }[] = [];
  for (const dir of dirs) parts.push({ dir, f: await readFeatures(dir) });
  const first = parts[0];
  const a = first.f.index;
  if (!a.shard) throw new Error(`${first.dir}: not a shard (its index.json has shard: null)`);
  const seen = new Map<number, string>();
  for (const { dir, f } of parts) {
    const b = f.index;
    if (!b.shard) throw new Error(`${dir}: not a shard (its index.json has shard: null)`);
    const differs =
      b.model.fingerprint !== a.model.fingerprint
        ? `model ${b.model.source} (${b.model.fingerprint}) ≠ ${a.model.source} (${a.model.fingerprint})`
        : b.layer !== a.layer
          ? `layer ${b.layer} ≠ ${a.layer}`
          : b.pool !== a.pool
            ? `pool ${b.pool} ≠ ${a.pool}`
            : b.dataset.fingerprint !== a.dataset.fingerprint || b.dataset.count !== a.dataset.count
              ? `dataset ${b.dataset.description} ≠ ${a.dataset.description}`
              : b.shard.count !== a.shard!.count
                ? `split into ${b.shard.count} shards, ${first.dir} into ${a.shard!.count}`
                : b.seed !== a.seed || b.testFraction !== a.testFraction
                  ? 'another train/test split (seed or test fraction)'
                  : undefined;
    if (differs) throw new Error(`${dir}: cannot merge with ${first.dir}: ${differs}`);
    const dup = seen.get(b.shard.index);
    if (dup) throw new Error(`${dir}: shard ${b.shard.index + 1}/${b.shard.count} given twice (also ${dup})`);
    seen.set(b.shard.index, dir);
  }
  const missing = Array.from({ length: a.shard.count }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length)
    throw new Error(`shard(s) ${missing.map((i) => `${i + 1}/${a.shard!.count}`).join(', ')} missing`);
  parts.sort((x, y) => x.f.index.shard!.index - y.f.index.shard!.index);
  const N = parts.reduce((s, p) => s + p.f.n, 0);
  const F = first.f.f;
  const features = new Float32Array(N * F);
  const rows: { file: string; label: number; className: string; split: string }[] = [];
  for (const { f } of parts) {
    features.set(f.features, rows.length * F);
    for (let i = 0; i < f.n; i++)
      rows.push({
        file: f.files[i],
        label: f.labels[i],
        className: f.labels[i] >= 0 ? (a.classNames[f.labels[i]] ?? f.classes[i]) : '',
        split: f.split[i],
      });
  }
  const index: FeaturesIndex = { ...a, shape: [N, F], shard: null };
  await writeFeaturesDir(out, index, features, labelsCsv(rows));
  const train = rows.filter((r) => r.split === 'train').length;
  return {
    out,
    layer: a.layer,
    pool: a.pool,
    rows: N,
    features: F,
    layerShape: a.layerShape,
    classes: a.classNames.length,
    train,
    test: N - train,
    shard: `${parts.length}/${a.shard.count} merged`,
    seconds: (performance.now() - t0) / 1000,
    imagesPerSecond: 0,
    skipped: 0,
  };
}
