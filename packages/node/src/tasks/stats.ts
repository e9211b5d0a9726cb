/**
 * The statistics job: class × filter means, per-class mean maps, mode maps and top-k patches of chosen
 * layers over any dataset (or one shard of it), streamed a class-ordered batch at a time through
 * dataset.read, so an image folder is never held in memory. Top-k patches are cut afterwards from the
 * few images that made a top-k list, re-read by index. `statsMergeCommand` folds shard partials into
 * the one-pass result. Every output folder holds partial.json (mergeable), the figures and index.json.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { newLabels } from '@convlens/core/data/split';
import type { ImageSet } from '@convlens/core/data/types';
import { tf } from '@convlens/core/engine/backend';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import { defaultProbeLayers, resolveProbeLayers } from '@convlens/core/inspect/probe';
import type { Box } from '@convlens/core/inspect/receptive-field';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { resolveLayerName } from '@convlens/core/models/layer-aliases';
import { classOrderedBatches, cropFromSet, StatsCollector } from '@convlens/core/stats/collector';
import {
  type DatasetStats,
  mergeStats,
  missingShards,
  type StatsMeta,
  shardRange,
  statsFromJSON,
  statsToJSON,
} from '@convlens/core/stats/dataset-stats';
import type { TopEntry } from '@convlens/core/stats/top-k';
import { checkOutDir, FigureSet } from '../figures/figure-set.ts';
import { coverage, renderStats } from '../figures/stats-render.ts';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { datasetFingerprint } from '../open/dataset-fingerprint.ts';
import { type Chunk, type OpenedDataset, readAhead } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { CONV_CLASSES, chooseLayers, isBig, layersModel, maxChannels, omittedNote } from './layer-choice.ts';
import { type MergeSummary, mergePartials } from './merge-partials.ts';
import {
  finishedNotice,
  isFinished,
  type PartialEnvelope,
  type PartialMerger,
  partialKey,
  readPartial,
  shardEnvelope,
  withEnvelope,
} from './partial.ts';
import { selectImages } from './selection.ts';

export interface StatsOptions {
  model: OpenedModel;
  dataset: OpenedDataset;
  /** Output folder, replaced atomically. */
  out: string;
  /** Only N images: the first N of an IDX set, N evenly spaced ones of an image folder (every class). */
  limit?: number;
  /** Shard i of n (0-based index), contiguous over the (limited) images. */
  shard?: { index: number; count: number };
  /** Default: every conv, pool and dense layer (a sample of 8 conv layers on a big model). */
  layers?: string[];
  /** Layers to keep mode maps and mean maps for (default: every chosen conv layer, within a memory budget). */
  modeLayers?: string[];
  /** Images kept per filter (default 9). */
  topK?: number;
  /** Default 256 (32 on a big model). */
  batchSize?: number;
  /** Filters per figure with top-k patches and mean maps (default: all on a small model, 32 on a big one). */
  maxChannels?: number;
}

/** What partial.json's meta carries beyond core's StatsMeta (kept through merges). */
export interface StatsMetaExtra {
  /** 'dataset': the images' own labels; 'predicted': the model's predicted class (unlabelled data). */
  labels: 'dataset' | 'predicted';
  /** Model class index of each statistics class (rows), when only the classes present are kept. */
  classIndices?: number[];
  /** Filters per layer with patches and mean maps drawn. */
  maxChannels?: number;
}

export interface StatsSummary {
  out: string;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  shards: string;
  labels: 'dataset' | 'predicted';
  classes: number;
  layers: { layer: string; shape: number[]; modeMaps: boolean; classMaps: boolean }[];
  omittedLayers: string[];
  files: string[];
  /** Set when --out already held this finished shard (nothing recomputed). */
  skipped?: boolean;
}

/** Class maps and mode counts of all layers together stay under this (they are float64/uint32 per class and unit). */
const ACCUMULATOR_BUDGET = 64 * 2 ** 20;
/** Models with at most this many classes keep every class; larger ones only the classes present. */
const ALL_CLASSES_UP_TO = 32;
/** Layers that pass a conv's maps on unchanged in shape: mode maps mean the same after them. */
const AFTER_CONV = new Set(['BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU']);
/** Top-k patches larger than this (px a side) are stored averaged down to it (figures draw them at ~40 px). */
const PATCH_MAX = 40;

/** One batch of bytes as model input, labelled with `labels` (by dataset index). */
function modelBatch(m: OpenedModel, chunk: Chunk, labels: ArrayLike<number>) {
  const { set: s, indices } = chunk;
  const relabelled = newLabels(s.labels, s.count);
  indices.forEach((i, k) => {
    relabelled[k] = labels[i];
  });
  const set: ImageSet = { ...s, labels: relabelled };
  const b = batchIterator(set, undefined, Math.max(1, set.count), { preprocess: m.preprocess }).next().value;
  return { x: b?.x ?? new Float32Array(0), y: set.labels, size: set.count, indices };
}

/** The model's predicted class of every image in `indices` (unlabelled data), by dataset index. */
async function predictClasses(
  m: OpenedModel,
  d: OpenedDataset,
  indices: Uint32Array,
  batchSize: number,
  hooks: JobHooks,
): Promise<Int32Array> {
  const out = new Int32Array(d.count).fill(-1);
  const zeros = new Uint8Array(d.count);
  const [h, w, c] = m.inputShape;
  let done = 0;
  const batches = Array.from({ length: Math.ceil(indices.length / batchSize) }, (_, b) =>
    indices.subarray(b * batchSize, (b + 1) * batchSize),
  );
  for await (const chunk of readAhead(d, batches)) {
    checkStop(hooks, 'stats');
    const b = modelBatch(m, chunk, zeros);
    const t = tf.tidy(() => {
      const y = m.model.predict(tf.tensor4d(b.x, [b.size, h, w, c])) as tf.Tensor;
      return tf.argMax(y.reshape([b.size, -1]), 1);
    });
    const cls = (await t.data()) as Int32Array;
    t.dispose();
    chunk.indices.forEach((i, k) => {
      out[i] = cls[k];
    });
    done += chunk.indices.length;
    hooks.onProgress?.(done, indices.length, { phase: 'predicting classes' });
  }
  return out;
}

/** Bytes of a box of an image, averaged down to at most PATCH_MAX px a side. */
function cutPatch(set: ImageSet, local: number, box: Box): { patch: Uint8Array; h: number; w: number } {
  const patch = cropFromSet(set)(local, box);
  const bh = box.y1 - box.y0 + 1;
  const bw = box.x1 - box.x0 + 1;
  const s = Math.ceil(Math.max(bh, bw) / PATCH_MAX);
  if (s <= 1) return { patch, h: bh, w: bw };
  const C = set.channels;
  const h = Math.ceil(bh / s);
  const w = Math.ceil(bw / s);
  const out = new Uint8Array(h * w * C);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < C; c++) {
        let sum = 0;
        let n = 0;
        for (let yy = y * s; yy < Math.min(bh, (y + 1) * s); yy++)
          for (let xx = x * s; xx < Math.min(bw, (x + 1) * s); xx++) {
            sum += patch[(yy * bw + xx) * C + c];
            n++;
          }
        out[(y * w + x) * C + c] = Math.round(sum / n);
      }
  return { patch: out, h, w };
}

/** Fills the top-k entries of the first `cap` filters of every layer with their input patches. */
async function addPatches(stats: DatasetStats, d: OpenedDataset, cap: number, hooks: JobHooks) {
  const wanted = new Map<number, TopEntry[]>();
  for (const l of stats.layers)
    for (const list of l.topk.entries.slice(0, cap))
      for (const e of list) {
        const at = wanted.get(e.image);
        if (at) at.push(e);
        else wanted.set(e.image, [e]);
      }
  const images = Uint32Array.from([...wanted.keys()].sort((a, b) => a - b));
  let done = 0;
  for await (const chunk of d.chunks(images, 64)) {
    checkStop(hooks, 'stats');
    chunk.indices.forEach((image, k) => {
      for (const e of wanted.get(image) ?? []) {
        const { patch, h, w } = cutPatch(chunk.set, k, e.box);
        e.patch = patch;
        // A downsampled patch records its own size (the box keeps the receptive field's).
        if (h !== e.box.y1 - e.box.y0 + 1 || w !== e.box.x1 - e.box.x0 + 1)
          Object.assign(e, { patchHeight: h, patchWidth: w });
      }
    });
    done += chunk.indices.length;
    hooks.onProgress?.(done, images.length, { phase: 'cutting top-k patches' });
  }
}

/** Per-class accumulator bytes of a spatial layer (mean maps: float64, mode counts: uint32). */
const accumulatorBytes = (K: number, shape: number[], maps: boolean, modes: boolean) =>
  K * shape[0] * shape[1] * shape[2] * ((maps ? 8 : 0) + (modes ? 4 : 0));

export async function statsCommand(o: StatsOptions, hooks: JobHooks = {}): Promise<StatsSummary> {
  const log = (s: string) => hooks.log?.(s);
  await checkOutDir(o.out);
  const m = o.model;
  const d = o.dataset;
  const model = layersModel(m);
  const big = isBig(m);
  const batchSize = o.batchSize ?? (big ? 32 : 256);
  const cap = maxChannels(m, o.maxChannels);
  const { indices: selected, name } = selectImages(d, o.limit);
  const shard = o.shard ?? { index: 0, count: 1 };
  const [start, end] = shardRange(selected.length, shard.index, shard.count);
  if (end <= start)
    throw new Error(`shard ${shard.index + 1}/${shard.count} of ${selected.length} images is empty`);
  const mine = selected.subarray(start, end);

  const choice = chooseLayers(model, defaultProbeLayers(model), o.layers);
  const probed = resolveProbeLayers(model, choice.layers); // a bad --layers fails before any image is read
  const note = omittedNote(choice);
  if (note) log(`stats: ${note}`);

  // The shard's identity: a finished one in --out is skipped, never recomputed.
  const key = partialKey({
    kind: 'stats',
    model: { name: model.name, fingerprint: modelFingerprint(model) },
    dataset: { name, fingerprint: await datasetFingerprint(d), images: selected.length },
    options: {
      layers: choice.layers,
      modeLayers: o.modeLayers?.map((n) => resolveLayerName(model, n)),
      topK: o.topK ?? 9,
      limit: o.limit,
      maxChannels: Number.isFinite(cap) ? cap : undefined,
    },
  });
  if (await isFinished(o.out, key, shard)) {
    log(finishedNotice('stats', o.out, shard));
    const p = await readPartial(o.out);
    const index = JSON.parse(await readFile(join(o.out, 'index.json'), 'utf8'));
    return {
      ...summaryOf(statsFromJSON(p.json, p.file), o.out, 0, index.files?.map((f: any) => f.file) ?? []),
      skipped: true,
    };
  }

  // Classes: the images' labels, or, for unlabelled images, the model's predicted class. A model with
  // many classes (ImageNet's 1000) keeps only those present, so the accumulators stay small; the set
  // is taken over all shards' images, so shards still merge.
  const K0 = m.numClasses;
  const labelsKind: StatsMetaExtra['labels'] = d.labelled ? 'dataset' : 'predicted';
  let modelLabels: ArrayLike<number> = d.labels;
  if (!d.labelled) {
    log(`stats: ${d.name} has no labels; classes are the model's predicted classes`);
    if (K0 > ALL_CLASSES_UP_TO && shard.count > 1)
      log(
        `notice: stats: with ${K0} classes every shard predicts all ${selected.length} images to agree on the classes present; label the images (class folders or labels.csv) to skip that`,
      );
    modelLabels = await predictClasses(m, d, K0 <= ALL_CLASSES_UP_TO ? mine : selected, batchSize, hooks);
  }
  let classIndices: number[] | undefined;
  let K = K0;
  let classNames = m.classNames;
  const labels = new Uint16Array(d.count);
  if (K0 <= ALL_CLASSES_UP_TO) {
    for (const i of mine) labels[i] = modelLabels[i];
  } else {
    classIndices = [...new Set(Array.from(selected, (i) => modelLabels[i]))].sort((a, b) => a - b);
    const row = new Map(classIndices.map((c, r) => [c, r]));
    for (const i of selected) labels[i] = row.get(modelLabels[i])!;
    K = classIndices.length;
    classNames = classIndices.map((c) => m.classNames[c]);
  }

  // Mean maps and mode maps (of conv layers and their normalized/activated outputs) cost
  // K × H × W × filters each: keep them within the budget.
  const convs = probed
    .filter(
      (l) =>
        l.spatial &&
        l.shape[0] * l.shape[1] > 1 &&
        (CONV_CLASSES.has(l.className) || AFTER_CONV.has(l.className)),
    )
    .map((l) => l.name);
  let modeLayers = o.modeLayers?.map((n) => resolveLayerName(model, n)) ?? convs; // aliases too
  let classMaps = true;
  const shapeOf = (n: string) => probed.find((l) => l.name === n)?.shape ?? [0, 0, 0];
  const total = () =>
    [...new Set([...convs, ...modeLayers])].reduce(
      (s, n) => s + accumulatorBytes(K, shapeOf(n), classMaps, modeLayers.includes(n)),
      0,
    );
  if (total() > ACCUMULATOR_BUDGET) {
    classMaps = false;
    const dropped: string[] = [];
    if (!o.modeLayers)
      while (total() > ACCUMULATOR_BUDGET && modeLayers.length) {
        const biggest = [...modeLayers].sort(
          (a, b) =>
            accumulatorBytes(1, shapeOf(b), false, true) - accumulatorBytes(1, shapeOf(a), false, true),
        )[0];
        modeLayers = modeLayers.filter((n) => n !== biggest);
        dropped.push(biggest);
      }
    log(
      `stats: per-class mean maps left out${dropped.length ? `, and mode maps of ${dropped.join(', ')}` : ''}: ` +
        `${K} classes × their feature maps would take over ${ACCUMULATOR_BUDGET / 2 ** 20} MB (pick fewer --layers or --mode-layers)`,
    );
  }

  const extra: StatsMetaExtra = {
    labels: labelsKind,
    ...(classIndices ? { classIndices } : {}),
    ...(Number.isFinite(cap) ? { maxChannels: cap } : {}),
  };
  const source = {
    dataset: name,
    datasetSize: selected.length,
    shardCount: shard.count,
    shards: [shard.index],
    classNames,
    ...extra,
  };
  const collector = new StatsCollector(model, {
    numClasses: K,
    layers: choice.layers,
    modeLayers,
    classMaps,
    k: o.topK ?? 9,
    source,
  });
  log(
    `stats: ${model.name} on ${name} images ${start}–${end - 1} of ${selected.length}` +
      `${shard.count > 1 ? ` (shard ${shard.index + 1}/${shard.count})` : ''}; layers ${collector.layers.map((l) => l.name).join(', ')}`,
  );
  const t0 = performance.now();
  let done = 0;
  // One class per batch: the per-class sums are then a single pooling op (see classOrderedBatches).
  for await (const chunk of readAhead(d, classOrderedBatches(labels, mine, batchSize))) {
    checkStop(hooks, 'stats');
    await collector.add(modelBatch(m, chunk, labels));
    done += chunk.indices.length;
    hooks.onProgress?.(done, mine.length);
  }
  if (d.skipped.length) log(`stats: ${d.skipped.length} unreadable image(s) skipped`);
  const stats = collector.result();
  // Mean maps of a 1×1 layer (MobileNet's conv_preds) are its class means again: not kept.
  for (const l of stats.layers) if (l.maps && l.maps.height * l.maps.width === 1) l.maps = undefined;
  await addPatches(stats, d, cap, hooks);
  const seconds = (performance.now() - t0) / 1000;
  const files = await writeStatsDir(
    o.out,
    stats,
    shardEnvelope(key, shard),
    { command: 'stats', model: m.source },
    log,
  );
  return {
    ...summaryOf(stats, o.out, seconds, files),
    omittedLayers: choice.omitted,
  };
}

function summaryOf(stats: DatasetStats, out: string, seconds: number, files: string[]) {
  const meta = stats.meta as StatsMeta & Partial<StatsMetaExtra>;
  return {
    out,
    images: stats.count,
    seconds,
    imagesPerSecond: stats.count / seconds,
    shards: `${stats.meta.shards.map((s) => s + 1).join(',')}/${stats.meta.shardCount}`,
    labels: meta.labels ?? 'dataset',
    classes: stats.meta.numClasses,
    layers: stats.layers.map((l) => ({
      layer: l.layer.name,
      shape: l.layer.shape,
      modeMaps: !!l.modes,
      classMaps: !!l.maps,
    })),
    omittedLayers: [] as string[],
    files,
  };
}

/** Writes partial.json, the figures and index.json into `out`, atomically. */
async function writeStatsDir(
  out: string,
  stats: DatasetStats,
  envelope: PartialEnvelope,
  about: Record<string, unknown>,
  log: (s: string) => void,
  notice = true,
): Promise<string[]> {
  const missing = missingShards(stats);
  if (missing.length && notice) {
    log(
      `notice: partial result, shards ${missing.map((s) => `${s + 1}/${stats.meta.shardCount}`).join(', ')} not included`,
    );
  }
  const meta = stats.meta as StatsMeta & Partial<StatsMetaExtra>;
  const [H, W] = meta.inputShape;
  // Partials from before maxChannels was recorded: the same default as isBig's input rule.
  const cap = meta.maxChannels ?? (Math.min(H, W) > 64 ? 32 : Number.POSITIVE_INFINITY);
  let files: string[] = [];
  const t0 = performance.now();
  await writeDirAtomic(out, async (dir) => {
    await writeJsonAtomic(join(dir, 'partial.json'), withEnvelope(statsToJSON(stats), envelope));
    const t1 = performance.now();
    const figs = new FigureSet(dir);
    await renderStats(stats, figs, { maxChannels: cap });
    log(
      `wrote partial.json in ${((t1 - t0) / 1000).toFixed(1)} s, ${figs.entries.length} figures in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
    files = ['partial.json', ...figs.entries.map((e) => e.file), 'index.json'];
    await writeJsonAtomic(join(dir, 'index.json'), {
      ...about,
      modelName: stats.meta.model.name,
      dataset: stats.meta.dataset,
      images: stats.count,
      datasetSize: stats.meta.datasetSize,
      covers: coverage(stats),
      shards: stats.meta.shards.map((s) => s + 1),
      shardCount: stats.meta.shardCount,
      complete: missing.length === 0,
      classNames: stats.meta.classNames,
      classes:
        meta.labels === 'predicted'
          ? "the model's predicted class of each image (the images have no labels)"
          : "the images' labels",
      ...(meta.classIndices ? { classIndices: meta.classIndices } : {}),
      partial: { file: 'partial.json', kind: 'mergeable statistics (convlens merge)' },
      files: figs.entries,
    });
  });
  return files;
}

/** Statistics partials fold with core mergeStats (exact counts, modes and top-k; float64 sums). */
export const statsMerger: PartialMerger<DatasetStats> = {
  load: (p) => statsFromJSON(p.json, p.file),
  fold: (a, b) => mergeStats(a, b),
  async write(merged, envelope, out, log) {
    const files = await writeStatsDir(out, merged, envelope, { command: 'merge' }, log, false);
    return { images: merged.count, files };
  },
};

/** `stats merge PARTIAL...`: `convlens merge` restricted to statistics; missing shards give a notice. */
export async function statsMergeCommand(
  partials: string[],
  o: { out: string },
  hooks: JobHooks = {},
): Promise<StatsSummary & { merge: MergeSummary }> {
  if (partials.length < 1) throw new Error('stats merge needs partials to merge');
  const { summary, merged } = await mergePartials(
    partials,
    (kind, file) => {
      if (kind !== 'stats')
        throw new Error(`${file}: a ${kind} partial, not statistics (use convlens merge)`);
      return statsMerger;
    },
    { out: o.out, allowMissing: true },
    hooks,
  );
  return { ...summaryOf(merged, o.out, summary.seconds, summary.files), merge: summary };
}
