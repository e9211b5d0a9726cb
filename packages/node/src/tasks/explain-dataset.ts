/**
 * Batch explain: explanation maps of every image of a dataset (or --limit of them, or one shard), each
 * map written as files — maps/<image>-<method>.npy (float32 H×W, the raw map at input resolution) and
 * maps/<image>-<method>.png (drawn over the image) — plus one index.json listing per image its source,
 * label, prediction, target and per method the file names and metadata. Images are decoded a few at a
 * time and only the index stays in memory. Each image is explained on its own (batch of one), so a map
 * never depends on which images shared its batch: shards give bit for bit the maps of one pass, and
 * `convlens merge` concatenates shard indexes in image order.
 */
import { copyFile, link, mkdir, readFile } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { tf } from '@convlens/core/engine/backend';
import { predictBatches } from '@convlens/core/eval/predict';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { encodeNpy } from '@convlens/core/methods/actmax/npy';
import type { ExplainMethod } from '@convlens/core/methods/explain/types';
import { imageFromBytes } from '@convlens/core/render/image';
import { drawExplanation } from '@convlens/core/render/overlay';
import { shardRange } from '@convlens/core/stats/dataset-stats';
import { checkOutDir, safeName } from '../figures/figure-set.ts';
import { writeDirAtomic, writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { encodePng } from '../io/png.ts';
import { datasetFingerprint } from '../open/dataset-fingerprint.ts';
import { type OpenedDataset, readAhead } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { resolveClass } from './explain.ts';
import { layersModel } from './layer-choice.ts';
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
import type { Shard } from './shard.ts';

export const EXPLAIN_DATASET_FORMAT = 'convlens-explain-dataset';

export interface ExplainDatasetOptions {
  model: OpenedModel;
  dataset: OpenedDataset;
  methods: ExplainMethod[];
  /** Layer for layer-based methods (default: each method's own choice). */
  layer?: string;
  /** Method options, given to every method (augSmooth, eigenSmooth, fusion, batch, seed, …). */
  methodOptions?: Record<string, unknown>;
  /** 'auto' (each image's top prediction), a class index or name (default 'auto'). */
  class?: string;
  /** Predictions listed per image (default 5). */
  top?: number;
  /** Only N images (the first N of an IDX set, N evenly spaced ones of a folder). */
  limit?: number;
  shard?: Shard;
  /** Images decoded per read (default 16). */
  readSize?: number;
  /** Output folder, replaced atomically. */
  out: string;
}

export interface ExplainDatasetMethod {
  method: string;
  /** maps/….npy and maps/….png, relative to the index. */
  npy?: string;
  png?: string;
  layer?: string;
  signed?: boolean;
  warnings?: string[];
  meta?: Record<string, unknown>;
  error?: string;
}

export interface ExplainDatasetEntry {
  /** Position in the job's image order (what shards divide). */
  position: number;
  /** Dataset index. */
  index: number;
  /** Path relative to the dataset folder, or e.g. "mnist image 12". */
  source: string;
  label?: number;
  labelName?: string;
  top: { class: number; name: string; probability: number }[];
  target: number;
  targetName: string;
  methods: ExplainDatasetMethod[];
}

export interface ExplainDatasetIndex {
  format: typeof EXPLAIN_DATASET_FORMAT;
  version: 1;
  model: { name: string; fingerprint: string };
  dataset: { name: string; fingerprint: string; images: number };
  methods: string[];
  layer?: string;
  class: string;
  /** Images explained (unreadable ones left out) and the shards they come from. */
  count: number;
  shards: number[];
  shardCount: number;
  complete: boolean;
  images: ExplainDatasetEntry[];
}

export interface ExplainDatasetSummary {
  out: string;
  images: number;
  shards: string;
  methods: string[];
  seconds: number;
  imagesPerSecond: number;
  skipped?: boolean;
  unreadable: number;
}

/** Per-input entries of a method's metadata arrays (one value per input), scalars as they are. */
const firstOf = (meta: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(meta).map(([k, v]) => [k, Array.isArray(v) && v.length === 1 ? v[0] : v]),
  );

/** Where image i came from, the same on every machine: relative to the folder, or the IDX name. */
function sourceOf(d: OpenedDataset, i: number): string {
  if (d.kind !== 'image-folder') return d.source(i);
  return relative(resolve(d.name), resolve(d.source(i)))
    .split('\\')
    .join('/');
}

/** File stem of image i: its dataset index (unique, sorts in order) and a readable part of its name. */
function stemOf(d: OpenedDataset, i: number): string {
  const digits = String(Math.max(0, d.count - 1)).length;
  const src = sourceOf(d, i);
  const name = d.kind === 'image-folder' ? basename(src, extname(src)) : '';
  return `${String(i).padStart(digits, '0')}${name ? `-${safeName(name).slice(0, 40)}` : ''}`;
}

export async function explainDataset(
  o: ExplainDatasetOptions,
  hooks: JobHooks = {},
): Promise<ExplainDatasetSummary> {
  const log = (s: string) => hooks.log?.(s);
  if (o.methods.length === 0) throw new Error('explain: no methods given');
  await checkOutDir(o.out);
  const m = o.model;
  const d = o.dataset;
  const model = layersModel(m);
  const [H, W, C] = m.inputShape;
  const k = m.numClasses;
  const fixed = o.class === undefined || o.class === 'auto' ? undefined : resolveClass(o.class, m);
  const { indices: selected, name } = selectImages(d, o.limit);
  const shard = o.shard ?? { index: 0, count: 1 };
  const [start, end] = shardRange(selected.length, shard.index, shard.count);
  if (end <= start)
    throw new Error(`shard ${shard.index + 1}/${shard.count} of ${selected.length} images is empty`);
  const top = Math.min(o.top ?? 5, k);
  const key = partialKey({
    kind: 'explain',
    model: { name: model.name, fingerprint: modelFingerprint(model) },
    dataset: { name, fingerprint: await datasetFingerprint(d), images: selected.length },
    options: {
      methods: o.methods.map((x) => x.id),
      layer: o.layer,
      class: fixed ?? 'auto',
      top,
      limit: o.limit,
      // Only when given, so runs without method options keep their key.
      ...(o.methodOptions && Object.keys(o.methodOptions).length ? { methodOptions: o.methodOptions } : {}),
    },
  });
  if (await isFinished(o.out, key, shard)) {
    log(finishedNotice('explain', o.out, shard));
    const index = JSON.parse(await readFile(join(o.out, 'index.json'), 'utf8')) as ExplainDatasetIndex;
    return {
      out: o.out,
      images: index.count,
      shards: `${shard.index + 1}/${shard.count}`,
      methods: index.methods,
      seconds: 0,
      imagesPerSecond: 0,
      skipped: true,
      unreadable: end - start - index.count,
    };
  }
  const mine = selected.subarray(start, end);
  log(
    `explain: ${o.methods.map((x) => x.id).join(', ')} on ${name}, images ${start}–${end - 1} of ${selected.length}` +
      `${shard.count > 1 ? ` (shard ${shard.index + 1}/${shard.count})` : ''}`,
  );
  const position = new Map(Array.from(mine, (i, p) => [i, start + p]));
  const readSize = o.readSize ?? 16;
  const batches = Array.from({ length: Math.ceil(mine.length / readSize) }, (_, b) =>
    mine.subarray(b * readSize, (b + 1) * readSize),
  );
  const scale = Math.max(1, Math.round(224 / Math.max(H, W)));
  const entries: ExplainDatasetEntry[] = [];
  const t0 = performance.now();
  await writeDirAtomic(o.out, async (dir) => {
    await mkdir(join(dir, 'maps'));
    let done = 0;
    let b = 0;
    for await (const chunk of readAhead(d, batches)) {
      // Unreadable images (left out by the dataset) count towards progress too.
      done += batches[b++].length - chunk.indices.length;
      for (const [j, i] of chunk.indices.entries()) {
        checkStop(hooks, 'explain');
        const one = {
          ...chunk.set,
          images: chunk.set.images.subarray(j * H * W * C, (j + 1) * H * W * C),
          count: 1,
        };
        const x = batchIterator(one, undefined, 1, { preprocess: m.preprocess }).next().value!.x;
        let probs: Float32Array = new Float32Array(0);
        for await (const p of predictBatches(model, [{ x, size: 1 }])) probs = p.probs;
        const ranked = Array.from(probs, (p, c) => ({ class: c, name: m.classNames[c], probability: p }))
          .sort((a, b) => b.probability - a.probability || a.class - b.class)
          .slice(0, top);
        const target = fixed ?? ranked[0].class;
        const label = d.labelled ? chunk.set.labels[j] : undefined;
        const stem = stemOf(d, i);
        const base = imageFromBytes(one.images, W, H, C);
        const entry: ExplainDatasetEntry = {
          position: position.get(i)!,
          index: i,
          source: sourceOf(d, i),
          ...(label !== undefined ? { label, labelName: m.classNames[label] } : {}),
          top: ranked,
          target,
          targetName: m.classNames[target],
          methods: [],
        };
        const input = tf.tensor4d(x, [1, H, W, C]);
        try {
          for (const method of o.methods) {
            const e = await method.explain({
              model,
              input,
              target: [target],
              layer: method.needsLayer ? o.layer : undefined,
              options: o.methodOptions,
            });
            const file = `maps/${stem}-${safeName(method.id)}`;
            await writeFileAtomic(join(dir, `${file}.npy`), encodeNpy(e.maps[0], [e.height, e.width]));
            await writeFileAtomic(
              join(dir, `${file}.png`),
              await encodePng(drawExplanation(e, 0, base, scale)),
            );
            entry.methods.push({
              method: method.id,
              npy: `${file}.npy`,
              png: `${file}.png`,
              ...(e.layer ? { layer: e.layer } : {}),
              signed: e.signed,
              warnings: e.warnings[0] ?? [],
              meta: firstOf(e.meta),
            });
          }
        } finally {
          input.dispose();
        }
        entries.push(entry);
        hooks.onProgress?.(++done, mine.length);
      }
    }
    const envelope = shardEnvelope(key, shard);
    await writeIndex(dir, entries, envelope);
  });
  const seconds = (performance.now() - t0) / 1000;
  const unreadable = mine.length - entries.length;
  if (unreadable) log(`explain: ${unreadable} unreadable image(s) skipped`);
  return {
    out: o.out,
    images: entries.length,
    shards: `${shard.index + 1}/${shard.count}`,
    methods: o.methods.map((x) => x.id),
    seconds,
    imagesPerSecond: entries.length / seconds,
    unreadable,
  };
}

/** index.json (what people read) and partial.json (the envelope, pointing at the index). */
async function writeIndex(dir: string, images: ExplainDatasetEntry[], e: PartialEnvelope): Promise<void> {
  const index: ExplainDatasetIndex = {
    format: EXPLAIN_DATASET_FORMAT,
    version: 1,
    model: e.model,
    dataset: e.dataset,
    methods: e.options.methods as string[],
    ...(e.options.layer !== undefined ? { layer: e.options.layer as string } : {}),
    class: String(e.options.class),
    count: images.length,
    shards: e.shards,
    shardCount: e.shardCount,
    complete: e.shards.length === e.shardCount,
    images,
  };
  await writeJsonAtomic(join(dir, 'index.json'), index);
  await writeJsonAtomic(
    join(dir, 'partial.json'),
    withEnvelope({ format: EXPLAIN_DATASET_FORMAT, index: 'index.json' }, e),
  );
}

interface ExplainFold {
  /** Entries with the folder their files are in. */
  images: { entry: ExplainDatasetEntry; dir: string }[];
}

/** Batch-explain partials: indexes concatenated in image order, map files linked (or copied) over. */
export const explainMerger: PartialMerger<ExplainFold> = {
  async load(p) {
    const file = join(p.dir, String(p.json.index ?? 'index.json'));
    let index: ExplainDatasetIndex;
    try {
      index = JSON.parse(await readFile(file, 'utf8'));
    } catch (err: any) {
      throw new Error(`${file}: cannot read the explain index (${err.code ?? 'not valid JSON'})`);
    }
    if (index?.format !== EXPLAIN_DATASET_FORMAT || !Array.isArray(index.images))
      throw new Error(`${file}: not a batch explain index`);
    return { images: index.images.map((entry) => ({ entry, dir: p.dir })) };
  },
  fold: (a, b) => ({ images: [...a.images, ...b.images] }),
  async write(merged, envelope, out, _log) {
    const images = [...merged.images].sort((x, y) => x.entry.position - y.entry.position);
    const files: string[] = [];
    await writeDirAtomic(out, async (dir) => {
      await mkdir(join(dir, 'maps'));
      for (const { entry, dir: from } of images)
        for (const m of entry.methods)
          for (const f of [m.npy, m.png]) {
            if (!f) continue;
            await link(join(from, f), join(dir, f)).catch(() => copyFile(join(from, f), join(dir, f)));
            files.push(f);
          }
      await writeIndex(
        dir,
        images.map((x) => x.entry),
        envelope,
      );
    });
    return { images: images.length, files: [...files, 'index.json', 'partial.json'] };
  },
};

/** The index of a batch explain folder (one pass or merged). */
export async function readExplainIndex(dir: string): Promise<ExplainDatasetIndex> {
  const p = await readPartial(dir);
  if (p.envelope.kind !== 'explain')
    throw new Error(`${dir}: a ${p.envelope.kind} partial, not batch explain`);
  return JSON.parse(await readFile(join(p.dir, String(p.json.index ?? 'index.json')), 'utf8'));
}
