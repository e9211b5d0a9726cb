/**
 * The transfer-learning comparison both labs show (the lecture's recipe, measured): on one seeded split
 * of a class folder, a layer's averaged features + each classic classifier, a new head on the frozen
 * network (`transfer`, GAP + softmax), and that head then fine-tuned — the last block only, and all
 * layers — test accuracy and wall time side by side, with the lecture's rule of thumb set against what
 * was measured. The pretrained lab runs it on its own images, the zoo lab (--transfer) on another dataset.
 */
import { join, resolve } from 'node:path';
import type { tf } from '@convlens/core/engine/backend';
import { CLASSIFY_METHODS } from '../classify/methods.ts';
import { scanImageFolder, splitItems } from '../datasets/image-folder.ts';
import type { Features } from '../features/read-features.ts';
import { classNameIndex, normClassName } from '../open/class-lookup.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { classifyFeatures } from '../tasks/classify.ts';
import { type FeatureDataset, featureRows, openFeatureDataset } from '../tasks/features.ts';
import { runTransfer } from '../transfer/transfer.ts';
import { taskHooks } from './stage-pt-inside.ts';
import { Interrupted, type LabContext, type StageResult } from './types.ts';

/**
 * Images compared at most, held-out share, epochs of the new head and of fine-tuning; smaller with
 * --quick. Fine-tuning dominates: 2 epochs end to end over 240 MobileNet 0.25 images took 15 minutes
 * on a busy 2-core machine, so it gets one epoch over at most 160.
 */
export function transferSettings(quick: boolean) {
  return quick
    ? { images: 80, testFraction: 0.2, headEpochs: 5, fineTuneEpochs: 1, lr: 1e-3, batchSize: 32 }
    : { images: 200, testFraction: 0.2, headEpochs: 10, fineTuneEpochs: 1, lr: 1e-3, batchSize: 32 };
}

export interface TransferRow {
  method: string;
  how: string;
  accuracy: number | null;
  seconds: number;
  note?: string;
}

const CONV = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

/**
 * Where "the last block" starts below layer `upTo`: the last convolution, and when that is a pointwise
 * one fed by a depthwise convolution, that one too (MobileNet: conv_dw_13 … conv_pw_13_relu; a plain
 * CNN: its last conv and the layers after it). Undefined when there is no convolution.
 */
export function lastBlockStart(model: tf.LayersModel, upTo: string): string | undefined {
  const end = model.layers.findIndex((l) => l.name === upTo);
  const convs = model.layers
    .slice(0, end + 1)
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => CONV.has(l.getClassName()));
  const last = convs.at(-1);
  if (!last) return undefined;
  const prev = convs.at(-2);
  const pointwise = (last.l.getConfig().kernelSize as number[] | number | undefined)?.toString() === '1,1';
  return prev && pointwise && prev.l.getClassName() === 'DepthwiseConv2D' ? prev.l.name : last.l.name;
}

/** The last layer with a spatial (h, w, c) output that is not dropout: the zoo network's features. */
export function lastSpatialLayer(model: tf.LayersModel): string {
  const l = [...model.layers]
    .reverse()
    .find((x) => (x.outputShape as number[]).length === 4 && x.getClassName() !== 'Dropout');
  if (!l) throw new Error(`${model.name}: no layer with a spatial output to transfer from`);
  return l.name;
}

export interface TransferCompareInput {
  /** The network, opened (features for the classic classifiers). */
  model: OpenedModel;
  /** The same network as a source runTransfer can import (a model folder or model.json). */
  source: string;
  fingerprint: string;
  preprocessText: string;
  layer: string;
  /** ROOT/<class>/<image>: the images compared, already chosen. */
  images: string;
  /** Scratch folder for transfer's runs and cache (the caller removes it). */
  scratch: string;
  /** Dataset name for the table's title. */
  datasetName: string;
  /** Fine-tune all layers too (off where that is too slow, e.g. MobileNet with --quick). */
  fineTuneAll: boolean;
  /** Overrides the class-name test of the rule of thumb's "similar domain". */
  similarDomain?: boolean;
  /** Overrides of transferSettings (head epochs, learning rate). */
  settings?: Partial<ReturnType<typeof transferSettings>>;
}

const pct = (v: number | null) => (v === null || Number.isNaN(v) ? '–' : `${(100 * v).toFixed(1)}%`);

export async function compareTransfer(ctx: LabContext, c: TransferCompareInput): Promise<StageResult> {
  const { model, layer, images, scratch } = c;
  const seed = ctx.settings.seed;
  const S = { ...transferSettings(!!ctx.settings.quick), ...c.settings };
  // transfer's split (a seeded shuffle) is the one every method uses.
  const scan = await scanImageFolder(images);
  const { val } = splitItems(scan.items, S.testFraction, seed);
  const testPaths = new Set(val.map((v) => resolve(v.path)));

  const fd: FeatureDataset = await openFeatureDataset(images, model, { onCorrupt: 'skip' });
  const t0 = performance.now();
  const h = taskHooks(ctx, `features ${layer}`, 'img');
  let rows: Awaited<ReturnType<typeof featureRows>>;
  try {
    rows = await featureRows(
      model,
      fd,
      layer,
      'avg',
      Uint32Array.from({ length: fd.data.count }, (_, i) => i),
      undefined,
      h,
    );
  } finally {
    h.close();
  }
  const featureSeconds = (performance.now() - t0) / 1000;
  const n = rows.indices.length;
  const features: Features = {
    index: {
      format: 'convlens-features',
      version: 1,
      model: { source: c.source, fingerprint: c.fingerprint },
      layer,
      pool: 'avg',
      shape: [n, rows.f],
      layerShape: [],
      dataset: { name: images, description: `${n} images of ${c.datasetName}`, count: n, fingerprint: '' },
      preprocess: { text: c.preprocessText },
      classNames: fd.classNames,
      seed,
      testFraction: S.testFraction,
      shard: null,
      files: { features: '', labels: '' },
    },
    features: rows.features,
    n,
    f: rows.f,
    labels: Int32Array.from(rows.indices, (i) => fd.data.labels[i]),
    files: Array.from(rows.indices, (i) => fd.file(i)),
    classes: Array.from(rows.indices, (i) => fd.classNames[fd.data.labels[i]]),
    split: Array.from(rows.indices, (i) => (testPaths.has(resolve(images, fd.file(i))) ? 'test' : 'train')),
  };

  const table: TransferRow[] = [];
  for (const method of CLASSIFY_METHODS) {
    if (ctx.stopRequested()) throw new Interrupted();
    const s = await classifyFeatures({ features, method, cv: 0, seed });
    table.push({
      method: `features + ${method}`,
      how: `${layer} averaged (${rows.f}), ${s.library}`,
      accuracy: s.accuracy,
      seconds: featureSeconds + s.fitSeconds + s.predictSeconds,
    });
  }
  const train = features.split.filter((v) => v === 'train').length;
  const test = n - train;

  // A new head (transfer), then fine-tuning: the frozen part's features are cached between the runs.
  const base = {
    base: c.source,
    freezeUntil: layer,
    head: 'gap',
    dataset: images,
    batchSize: S.batchSize,
    lr: S.lr,
    valSplit: S.testFraction,
    seed,
    onCorrupt: 'skip' as const,
    preset: model.preprocess.preset,
    cache: true,
    cacheDir: join(scratch, 'cache'),
  };
  const blockFrom = lastBlockStart(model.model, layer);
  const runs: [string, number, string | undefined][] = [['new head (transfer)', 0, undefined]];
  if (blockFrom) runs.push([`fine-tuning the last block (${blockFrom} on)`, S.fineTuneEpochs, blockFrom]);
  if (c.fineTuneAll) runs.push(['fine-tuning all layers', S.fineTuneEpochs, undefined]);
  for (const [method, fine, from] of runs) {
    if (ctx.stopRequested()) throw new Interrupted();
    const hooks = taskHooks(ctx, method, 'img');
    const t1 = performance.now();
    try {
      let done = 0;
      let total = 0;
      const r = await runTransfer({
        ...base,
        out: join(scratch, `run-${runs.findIndex((x) => x[0] === method)}`),
        epochs: S.headEpochs,
        fineTuneEpochs: fine,
        fineTuneFrom: from,
        onPhase: (_l, t) => {
          done = 0;
          total = t;
        },
        onImages: (k) => {
          done += k;
          hooks.onProgress?.(done, total);
        },
      });
      const last = r.history.at(-1)!;
      table.push({
        method,
        how: fine
          ? `head ${S.headEpochs} epochs, then ${fine} epoch(s) training ${from ? `${from} … ${layer}` : 'every layer'} and the head at lr ${S.lr / 10}`
          : `GAP + softmax on ${layer}, ${S.headEpochs} epochs (frozen features cached)`,
        accuracy: last.valAccuracy,
        seconds: (performance.now() - t1) / 1000,
      });
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      table.push({
        method,
        how: '',
        accuracy: null,
        seconds: 0,
        note: (err as Error).message.split('\n')[0],
      });
    } finally {
      hooks.close();
    }
  }

  // The lecture's rule of thumb against the measurement.
  const byName = classNameIndex(model.classNames);
  const known = fd.classNames.filter((x) => byName.has(normClassName(x))).length;
  const similar = c.similarDomain ?? (model.named && known >= fd.classNames.length / 2);
  const small = train < 1000;
  const linear = table.find((r) => r.method === 'features + logreg')!;
  const tuned = table.filter((r) => r.method.startsWith('fine-tuning') && r.accuracy !== null);
  const bestTuned = [...tuned].sort((a, b) => b.accuracy! - a.accuracy!)[0];
  const best = [...table].filter((r) => r.accuracy !== null).sort((a, b) => b.accuracy! - a.accuracy!)[0];
  const predicted =
    small && similar
      ? 'features + a linear classifier'
      : 'fine-tuning (the features of a pretrained model fit a different domain less well, and more data pays for training more layers)';
  const gain = bestTuned && linear.accuracy !== null ? bestTuned.accuracy! - linear.accuracy : undefined;
  const notes = [
    `${n} images (${train} train, ${test} test: one seeded split, the same for every row), ${fd.classNames.length} classes, ${known} of them among the model's own classes (${similar ? 'a domain close to its training data' : 'a different domain'}). Times include extracting the features once (${featureSeconds.toFixed(1)} s) for the classic classifiers; the transfer rows run the network themselves.`,
    `Rule of thumb (lecture): small data and similar to the model's training data → features + a linear classifier; more data or a different domain → fine-tune. Here: ${small ? 'small' : 'larger'} data, ${similar ? 'similar' : 'different'} domain → the rule predicts ${predicted}.`,
    `Measured: best ${best ? `${best.method} (${pct(best.accuracy)})` : '–'}; the best fine-tuning (${bestTuned?.method ?? 'none ran'}) ${gain === undefined ? 'did not run' : `${gain >= 0 ? 'gained' : 'lost'} ${Math.abs(100 * gain).toFixed(1)} points over features + logreg at ${(bestTuned.seconds / Math.max(linear.seconds, 1e-9)).toFixed(1)}× its wall time`}.`,
  ];
  return {
    figures: [],
    notes,
    tables: [
      {
        title: `Transfer learning on ${n} images of ${c.datasetName}: test accuracy and wall time`,
        header: ['method', 'test accuracy', 'wall time (s)', 'how'],
        rows: table.map((r) => [
          r.method,
          pct(r.accuracy),
          r.accuracy === null ? '–' : r.seconds.toFixed(1),
          r.note ? `not run: ${r.note}` : r.how,
        ]),
      },
    ],
    numbers: {
      layer,
      fineTuneFrom: blockFrom ?? null,
      images: n,
      train,
      test,
      classes: fd.classNames.length,
      knownClasses: known,
      similarDomain: similar,
      smallData: small,
      featureSeconds,
      settings: S,
      rows: table,
      ruleOfThumb: predicted,
    },
  };
}
