/**
 * Transfer learning: cut a pretrained model at a layer, freeze the part below, train a new head on its
 * features (cached on disk, so only the first epoch runs the frozen part), optionally unfreeze everything
 * and fine-tune end to end at a lower learning rate. Writes OUT/model (+ preprocess.json) and history.json.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AugmentParams } from '@convlens/core/data/augment';
import { tf } from '@convlens/core/engine/backend';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import { flattenNested } from '@convlens/core/models/flatten-nested';
import type { Preprocess, PresetName } from '@convlens/core/preprocess/presets';
import {
  type ImageItem,
  type OnCorrupt,
  type StreamOptions,
  scanImageFolder,
  splitItems,
  streamBatches,
} from '../datasets/image-folder.ts';
import { importModel, inputGeometry } from '../import/import-model.ts';
import { readPreprocess, saveImported } from '../import/save-imported.ts';
import { writeDirAtomic } from '../io/atomic.ts';
import { buildHead, cutAt, parseHead } from './cut.ts';
import {
  cachedFeatures,
  cacheKey,
  extractorCounter,
  featureBatches,
  fileIdentities,
} from './feature-cache.ts';

export interface TransferOptions {
  base: string;
  freezeUntil: string;
  head: string;
  dataset: string;
  out: string;
  epochs: number;
  fineTuneEpochs: number;
  /** Fine-tuning unfreezes only this layer of the frozen part and those after it (default: all of it). */
  fineTuneFrom?: string;
  batchSize: number;
  lr: number;
  valSplit: number;
  seed: number;
  onCorrupt: OnCorrupt;
  /** Overrides the base's preprocess.json (required when it has none). */
  preset?: PresetName;
  cache: boolean;
  cacheDir?: string;
  augment?: AugmentParams;
  /** Progress hooks (the CLI draws a bar): a phase starts with `total` images, then batches of `n`. */
  onPhase?: (label: string, total: number) => void;
  onImages?: (n: number) => void;
}

export interface EpochRecord {
  phase: 'head' | 'fine-tune';
  epoch: number;
  loss: number;
  trainAccuracy: number;
  valAccuracy: number;
  seconds: number;
  /** Images run through the frozen part during this epoch (0 when the cache served it). */
  extractorImages: number;
}

export interface TransferSummary {
  out: string;
  classes: string[];
  train: number;
  val: number;
  skipped: string[];
  featureShape: number[];
  history: EpochRecord[];
}

type Batches = AsyncGenerator<{ x: Float32Array; labels: Int32Array; n: number }>;

export async function runTransfer(
  o: TransferOptions,
  log: (s: string) => void = () => {},
): Promise<TransferSummary> {
  const head = parseHead(o.head);
  const folder = await scanImageFolder(o.dataset);
  // A base holding a model as a layer is cut by its inner layers' names.
  const base = flattenNested((await importModel(o.base)).model);
  const extractor = cutAt(base, o.freezeUntil);
  const fineStart = o.fineTuneFrom ? extractor.layers.findIndex((l) => l.name === o.fineTuneFrom) : 0;
  if (fineStart < 0)
    throw new Error(
      `--fine-tune-from: no layer '${o.fineTuneFrom}' in the frozen part (the layers up to ${o.freezeUntil})`,
    );
  const stored = o.base.startsWith('http')
    ? undefined
    : await readPreprocess(o.base.replace(/model\.json$/, ''));
  const preset = o.preset ?? stored?.preset;
  if (!preset) throw new Error(`${o.base}: no preprocess.json; give --preset`);
  const preprocess: Preprocess = {
    ...(stored?.preset === preset ? stored : {}),
    preset,
    classNames: folder.classNames,
  };
  const geometry = inputGeometry(base);
  const { train, val } = splitItems(folder.items, o.valSplit, o.seed);
  const skipped: string[] = [];
  const stream = (augment?: AugmentParams, seed = o.seed): StreamOptions => ({
    geometry,
    preprocess,
    batchSize: o.batchSize,
    onCorrupt: o.onCorrupt,
    augment,
    seed,
    onSkip: (path, reason) => {
      if (!skipped.includes(path)) {
        skipped.push(path);
        log(`skipped ${reason}`);
      }
    },
  });
  const featureShape = (extractor.outputs[0].shape as number[]).slice(1);
  const headModel = buildHead(featureShape, head, folder.classNames.length, o.seed);
  const headOptimizer = tf.train.adam(o.lr);
  headModel.compile({
    optimizer: headOptimizer,
    loss: 'categoricalCrossentropy',
    metrics: ['accuracy'],
  });
  const cacheDir = o.cacheDir ?? join(dirname(o.out), '.convlens-feature-cache');
  // Keyed by content, not names: the frozen part's weights and each image's size and mtime, so a
  // re-exported base or an edited image under the same path never reuses stale features.
  const baseId = modelFingerprint(extractor);
  const keyOf = async (split: string, items: ImageItem[]) =>
    cacheKey({
      base: baseId,
      layer: o.freezeUntil,
      preprocess,
      geometry,
      split,
      items: await fileIdentities(items),
      onCorrupt: o.onCorrupt,
    });

  // Features of a split for one epoch: from the disk cache, or recomputed (no cache, or augmentation,
  // whose random transforms differ every epoch and so cannot be cached).
  const features = async (
    items: ImageItem[],
    split: string,
    epoch: number,
    augment?: AugmentParams,
  ): Promise<Batches> => {
    if (o.cache && !augment)
      return featureBatches(
        await cachedFeatures(extractor, items, stream(), cacheDir, await keyOf(split, items)),
        o.batchSize,
        o.seed + epoch,
      );
    return (async function* () {
      for await (const b of streamBatches(items, stream(augment, o.seed + epoch))) {
        const f = tf.tidy(
          () =>
            extractor.predict(
              tf.tensor4d(b.x, [b.n, geometry.height, geometry.width, geometry.channels]),
            ) as tf.Tensor,
        );
        const x = (await f.data()) as Float32Array;
        f.dispose();
        extractorCounter.images += b.n;
        yield { x, labels: b.labels, n: b.n };
      }
    })();
  };

  const history: EpochRecord[] = [];
  const classes = folder.classNames.length;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    const before = extractorCounter.images;
    o.onPhase?.(`head epoch ${epoch}/${o.epochs}`, train.length);
    const fit = await fitEpoch(
      headModel,
      counted(await features(train, 'train', epoch, o.augment), o.onImages),
      featureShape,
      classes,
    );
    const valAccuracy = await accuracy(headModel, await features(val, 'val', 0), featureShape);
    const rec: EpochRecord = {
      phase: 'head',
      epoch,
      ...fit,
      valAccuracy,
      seconds: (performance.now() - t0) / 1000,
      extractorImages: extractorCounter.images - before,
    };
    history.push(rec);
    log(
      `head epoch ${epoch}/${o.epochs}: loss ${rec.loss.toFixed(4)} train acc ${rec.trainAccuracy.toFixed(3)} val acc ${valAccuracy.toFixed(3)} (${rec.seconds.toFixed(1)} s, ${rec.extractorImages} images through the frozen part)`,
    );
  }

  // End-to-end model: the frozen part followed by the trained head.
  const full = tf.model({
    inputs: base.inputs,
    outputs: headModel.apply(extractor.outputs[0]) as tf.SymbolicTensor,
    name: 'transfer',
  });
  let fineOptimizer: tf.Optimizer | undefined;
  if (o.fineTuneEpochs > 0) {
    extractor.trainable = true;
    // Layers below --fine-tune-from stay frozen: their variables get no gradient.
    extractor.layers.forEach((l, i) => {
      if (i < fineStart) l.trainable = false;
    });
    fineOptimizer = tf.train.adam(o.lr / 10);
    full.compile({
      optimizer: fineOptimizer,
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    });
    const imageShape = [geometry.height, geometry.width, geometry.channels];
    for (let epoch = 1; epoch <= o.fineTuneEpochs; epoch++) {
      const t0 = performance.now();
      o.onPhase?.(`fine-tune epoch ${epoch}/${o.fineTuneEpochs}`, train.length);
      const fit = await fitEpoch(
        full,
        counted(streamBatches(train, stream(o.augment, o.seed + 1000 + epoch)), o.onImages),
        imageShape,
        classes,
      );
      const valAccuracy = await accuracy(full, streamBatches(val, stream()), imageShape);
      const rec: EpochRecord = {
        phase: 'fine-tune',
        epoch,
        ...fit,
        valAccuracy,
        seconds: (performance.now() - t0) / 1000,
        extractorImages: train.length + val.length,
      };
      history.push(rec);
      log(
        `fine-tune epoch ${epoch}/${o.fineTuneEpochs}: loss ${rec.loss.toFixed(4)} val acc ${valAccuracy.toFixed(3)} (${rec.seconds.toFixed(1)} s)`,
      );
    }
  }
  const summary: TransferSummary = {
    out: o.out,
    classes: folder.classNames,
    train: train.length,
    val: val.length,
    skipped,
    featureShape,
    history,
  };
  await writeDirAtomic(o.out, async (tmp) => {
    await saveImported(full, join(tmp, 'model'), preprocess);
    await writeFile(join(tmp, 'history.json'), JSON.stringify({ options: o, ...summary }, null, 2));
  });
  // `full` owns the frozen part and the head; disposing it frees them. The base's layers above the cut
  // are freed one by one (disposing `base` would fail on the layers already gone).
  full.dispose();
  const freed = new Set(full.layers);
  for (const l of base.layers) if (!freed.has(l) && !extractor.layers.includes(l)) l.dispose();
  headOptimizer.dispose();
  fineOptimizer?.dispose();
  return summary;
}

async function* counted(batches: Batches, onImages?: (n: number) => void): Batches {
  for await (const b of batches) {
    yield b;
    onImages?.(b.n);
  }
}

async function fitEpoch(
  model: tf.LayersModel,
  batches: Batches,
  shape: number[],
  classes: number,
): Promise<{ loss: number; trainAccuracy: number }> {
  let loss = 0;
  let acc = 0;
  let n = 0;
  for await (const b of batches) {
    const x = tf.tensor(b.x, [b.n, ...shape]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(b.labels, 'int32'), classes).toFloat());
    const [l, a] = (await model.trainOnBatch(x, y)) as number[];
    tf.dispose([x, y]);
    loss += l * b.n;
    acc += a * b.n;
    n += b.n;
  }
  return { loss: loss / Math.max(n, 1), trainAccuracy: acc / Math.max(n, 1) };
}

export async function accuracy(model: tf.LayersModel, batches: Batches, shape: number[]): Promise<number> {
  let right = 0;
  let n = 0;
  for await (const b of batches) {
    const pred = tf.tidy(() => (model.predict(tf.tensor(b.x, [b.n, ...shape])) as tf.Tensor).argMax(-1));
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < b.n; i++) if (p[i] === b.labels[i]) right++;
    n += b.n;
  }
  return n ? right / n : Number.NaN;
}
