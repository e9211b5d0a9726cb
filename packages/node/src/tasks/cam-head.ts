/**
 * The CAM-head job (the lab's `model_gap`): cuts a model at a conv layer, adds global average pooling +
 * one dense layer (core models/cam-head.ts), trains that head (the base frozen, or everything with
 * fineTune), and compares held-out accuracy with the original. A training run without --dataset trains
 * on its own data and gives a run directory; any model with a labelled dataset trains on a seeded split
 * of it and gives a model folder (model.json + preprocess.json with the class names). Either way
 * `explain --model OUT --method cam` reads the result.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Batch, batchIterator } from '@convlens/core/data/batches';
import { createRng, mixSeed, shuffleInPlace } from '@convlens/core/data/rng';
import { tf } from '@convlens/core/engine/backend';
import { evaluateModel, lossAndAccuracy } from '@convlens/core/eval/metrics';
import { type JobHooks, JobStopped } from '@convlens/core/jobs/job';
import { buildCamModel, camHead } from '@convlens/core/models/cam-head';
import type { Batches, BatchSource } from '@convlens/core/train/batch-source';
import type { History } from '@convlens/core/train/history';
import { trainModel } from '@convlens/core/train/loop';
import { makeOptimizer, resolveOptimizer } from '@convlens/core/train/optimizers';
import type { DownloadOptions } from '../data/download.ts';
import { PREPROCESS_JSON } from '../import/save-imported.ts';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { saveModel } from '../io/model-io.ts';
import type { OpenedDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { saveCheckpoint } from '../train/checkpoint.ts';
import { evalBatches, planRunData } from '../train/data-plan.ts';
import { type RunConfig, readRunConfig, runPaths } from '../train/run-dir.ts';
import { layersModel } from './layer-choice.ts';

export interface CamHeadOptions {
  model: OpenedModel;
  /** Labelled images to train on (split by seed into training and held-out); a run without it uses its own data. */
  dataset?: OpenedDataset;
  /** Held-out fraction of `dataset` (default 0.2). */
  heldOut?: number;
  /** Layer to cut at (default: the last conv block with a spatial output > 1×1). */
  layer?: string;
  /** Filters of an extra 3×3 conv layer before the GAP (0: none). */
  conv?: number;
  epochs: number;
  fineTune?: boolean;
  lr?: number;
  /** Default: the run's, else 32. */
  batchSize?: number;
  /** Default: the source's path + '-cam'. */
  out?: string;
  /** Replace an earlier result in `out`. */
  force?: boolean;
  /** Seed of the split and the new layers' weights (default: the run's, else 0). */
  seed?: number;
  /** Where a run's own dataset lives. */
  dataDir?: string;
  download?: boolean;
  downloadOptions?: DownloadOptions;
}

export interface CamHeadSummary {
  /** The output (a run directory or a model folder). */
  run: string;
  kind: 'run' | 'model';
  from: string;
  layer: string;
  epochs: number;
  fineTune: boolean;
  /** Held-out accuracy of the GAP model, and of the original model on the same images. */
  accuracy: number;
  baseAccuracy: number;
  set: 'test' | 'validation' | 'held-out';
  count: number;
  stopReason: History['stopReason'];
}

/** Where the head's training and held-out batches come from. */
interface CamData {
  what: string;
  trainCount: number;
  train: BatchSource;
  val: () => Batches;
  heldOut: () => Batches;
  set: CamHeadSummary['set'];
  provenance?: unknown;
}

/** The default output beside the source: RUN-cam, or DIR-cam for DIR/model.json, MODEL.keras → MODEL-cam. */
export function defaultCamOut(source: string): string {
  const s = source.replace(/\/+$/, '').replace(/\/model\.json$/i, '');
  return `${s.replace(/\.(json|h5|hdf5|keras)$/i, '')}-cam`;
}

/** Batches of dataset images read by index, decoding the next batch while the current one trains. */
async function* readBatches(m: OpenedModel, d: OpenedDataset, order: Uint32Array, size: number) {
  const at = (b: number) => order.subarray(b * size, (b + 1) * size);
  const n = Math.ceil(order.length / size);
  let next = n > 0 ? d.read(at(0)) : undefined;
  for (let b = 0; b < n; b++) {
    const chunk = await next!;
    next = b + 1 < n ? d.read(at(b + 1)) : undefined;
    next?.catch(() => {});
    if (chunk.set.count === 0) continue;
    const batch = batchIterator(chunk.set, undefined, chunk.set.count, { preprocess: m.preprocess }).next()
      .value as Batch;
    yield { x: batch.x, y: batch.y, size: batch.size };
  }
}

function datasetData(o: CamHeadOptions, d: OpenedDataset, seed: number, batchSize: number): CamData {
  if (!d.labelled)
    throw new Error(
      `--dataset ${d.name}: has no labels; the CAM head is a classifier trained on labelled images`,
    );
  const fraction = o.heldOut ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) throw new Error(`--held-out must be in (0, 1), got ${fraction}`);
  if (d.count < 2) throw new Error(`--dataset ${d.name}: needs at least 2 images (training and held-out)`);
  const all = shuffleInPlace(
    Uint32Array.from({ length: d.count }, (_, i) => i),
    createRng(mixSeed(seed, 0, 3)),
  );
  const k = Math.min(d.count - 1, Math.max(1, Math.round(fraction * d.count)));
  const held = all.slice(0, k).sort();
  const train = all.slice(k);
  return {
    what: `${d.description}: train ${train.length}, held-out ${held.length} (seeded split)`,
    trainCount: train.length,
    train: (epoch) =>
      readBatches(o.model, d, shuffleInPlace(train.slice(), createRng(mixSeed(seed, epoch, 4))), batchSize),
    val: () => readBatches(o.model, d, held, batchSize),
    heldOut: () => readBatches(o.model, d, held, batchSize),
    set: 'held-out',
  };
}

async function runData(o: CamHeadOptions, batchSize: number): Promise<CamData> {
  const config = o.model.run!.config;
  const plan = await planRunData(config, o);
  const { train, val } = plan;
  const heldOut = plan.test ?? val;
  return {
    what: `${config.dataset}: train ${train.count}, validation ${val.count}, held-out ${heldOut.count}`,
    trainCount: train.count,
    train: (e) =>
      batchIterator(train, undefined, batchSize, {
        shuffle: true,
        seed: config.seed,
        epoch: e,
        augment: config.augment as any,
        scaling: config.scaling,
        standardizer: plan.standardizer,
      }),
    val: evalBatches(val, 256, plan.standardizer),
    heldOut: evalBatches(heldOut, 256, plan.standardizer),
    set: plan.test ? 'test' : 'validation',
    provenance: plan.provenance,
  };
}

/** The output is replaced as a whole: never a folder that holds something other than an earlier result. */
async function checkCamOut(out: string, kind: 'run' | 'model', force?: boolean): Promise<void> {
  const entries = await readdir(out).catch(() => null);
  if (!entries?.length) return;
  const ours =
    kind === 'run'
      ? await readRunConfig(out).then(
          () => true,
          () => false,
        )
      : entries.includes('model.json') && entries.includes(PREPROCESS_JSON);
  const what = kind === 'run' ? 'a run directory' : 'a model folder';
  if (!ours) throw new Error(`--out ${out} exists and is not ${what}: refusing to replace it`);
  if (!force)
    throw new Error(
      `--out ${out} already holds ${kind === 'run' ? 'a run' : 'a model'} (use --force to replace it)`,
    );
}

export async function camHeadCommand(o: CamHeadOptions, hooks: JobHooks = {}): Promise<CamHeadSummary> {
  const log = (s: string) => hooks.log?.(s);
  const m = o.model;
  const source = m.source;
  const kind: 'run' | 'model' = m.run && !o.dataset ? 'run' : 'model';
  if (!m.run && !o.dataset)
    throw new Error(
      `${source} is not a training run: give --dataset (labelled images) to train the CAM head on`,
    );
  const out = o.out ?? defaultCamOut(source);
  if (resolve(out) === resolve(source) || (m.modelDir && resolve(out) === resolve(m.modelDir)))
    throw new Error('--out must differ from --model (the original model is kept)');
  await checkCamOut(out, kind, o.force);
  const original = layersModel(m);
  const config = m.run?.config;
  const seed = o.seed ?? config?.seed ?? 0;
  const fineTune = !!o.fineTune;
  let model: tf.LayersModel | undefined;
  let optimizer: tf.Optimizer | undefined;
  try {
    // The model first: a bad --layer fails before any data is read.
    model = await buildCamModel(original, { layer: o.layer, conv: o.conv, freeze: !fineTune, seed });
    const batchSize = o.batchSize ?? config?.batchSize ?? 32;
    const data = kind === 'run' ? await runData(o, batchSize) : datasetData(o, o.dataset!, seed, batchSize);
    const layer = camHead(model).featureLayer.name;
    const trainable = model.trainableWeights.reduce(
      (n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1),
      0,
    );
    log(
      `cam-head: ${source} (${config?.model ?? original.name}) cut at ${layer} [${(model.getLayer(layer).outputShape as number[]).slice(1)}] + GAP + dense ${m.numClasses}; ` +
        `${fineTune ? 'fine-tuning everything' : 'base frozen'} (${trainable} trainable parameters)`,
    );
    log(`data: ${data.what}`);

    // GAP features of a net trained with a flatten head are weak and small, so the head needs a
    // high rate; fine-tuning moves trained features, so lower (on MNIST/cnn1 these learned fastest).
    const optimizerConfig = resolveOptimizer({
      name: 'adam',
      learningRate: o.lr ?? (fineTune ? 3e-3 : 1e-2),
    });
    optimizer = makeOptimizer(optimizerConfig);
    const net = model;
    const history = await trainModel(net, {
      optimizer,
      epochs: o.epochs,
      trainBatches: data.train,
      valBatches: data.val,
      shouldStop: () => !!hooks.shouldStop?.(),
      onBatchEnd(info) {
        hooks.onProgress?.(info.images, data.trainCount, {
          epoch: `${info.epoch}/${o.epochs}`,
          loss: info.epochLoss.toFixed(4),
          acc: info.epochAcc.toFixed(4),
        });
      },
      onEpochEnd(record) {
        log(
          `epoch ${record.epoch}/${o.epochs}: loss ${record.loss.toFixed(4)} acc ${record.acc.toFixed(4)}` +
            (record.valLoss !== undefined
              ? ` | val_loss ${record.valLoss.toFixed(4)} val_acc ${record.valAcc!.toFixed(4)}`
              : '') +
            ` | ${record.seconds.toFixed(1)} s`,
        );
      },
    });
    if (history.stopReason === 'interrupted') {
      const err = new JobStopped('cam-head');
      err.message = 'interrupted: nothing was saved';
      throw Object.assign(err, { exitCode: 130 });
    }

    const ev = await evaluateModel(net, data.heldOut(), m.numClasses, { maxMisclassified: 0 });
    const base = await lossAndAccuracy(original, data.heldOut());
    log(
      `${data.set} accuracy: GAP model ${(ev.accuracy * 100).toFixed(2)}%, original ${(base.accuracy * 100).toFixed(2)}% ` +
        `on ${ev.count} images`,
    );
    const camHeadInfo = {
      from: source,
      layer,
      conv: o.conv ?? 0,
      freeze: !fineTune,
      accuracy: ev.accuracy,
      baseAccuracy: base.accuracy,
      set: data.set,
      ...(o.dataset ? { dataset: o.dataset.name } : {}),
    };
    const opt = optimizer;
    if (kind === 'run') {
      const newConfig: RunConfig & { camHead: Record<string, unknown> } = {
        ...config!,
        model: `${config!.model}+cam`,
        batchSize,
        epochs: o.epochs,
        optimizer: optimizerConfig as unknown as Record<string, unknown>,
        earlyStopping: undefined,
        backend: tf.getBackend(),
        createdAt: new Date().toISOString(),
        camHead: camHeadInfo,
      };
      const metadata = {
        convlens: {
          model: newConfig.model,
          dataset: config!.dataset,
          classNames: config!.classNames,
          scaling: config!.scaling,
          standardizer: config!.standardizer,
        },
      };
      // The whole run directory appears at once, or not at all.
      await writeDirAtomic(out, async (dir) => {
        const paths = runPaths(dir);
        await writeJsonAtomic(paths.config, newConfig);
        await saveModel(net, paths.model, metadata);
        await saveCheckpoint(paths.checkpoint, net, opt, history.records);
        await writeJsonAtomic(paths.history, {
          ...history,
          provenance: data.provenance,
          backend: newConfig.backend,
        });
      });
    } else {
      // A model folder that openModel reads back with the source's preprocessing and class names.
      const preprocess = { ...m.preprocess, ...(m.named ? { classNames: m.classNames } : {}) };
      await writeDirAtomic(out, async (dir) => {
        await saveModel(net, dir, { preprocess: { preset: preprocess.preset }, camHead: camHeadInfo });
        await writeFile(join(dir, PREPROCESS_JSON), JSON.stringify(preprocess));
        await writeJsonAtomic(join(dir, 'history.json'), history);
      });
    }
    log(
      `${kind === 'run' ? 'run' : 'model'} saved in ${out}; try: convlens explain --model ${out} --method cam`,
    );
    return {
      run: out,
      kind,
      from: source,
      layer,
      epochs: history.records.at(-1)?.epoch ?? 0,
      fineTune,
      accuracy: ev.accuracy,
      baseAccuracy: base.accuracy,
      set: data.set,
      count: ev.count,
      stopReason: history.stopReason,
    };
  } finally {
    model?.dispose();
    optimizer?.dispose();
  }
}
