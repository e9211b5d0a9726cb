/** The training job: a zoo model on a dataset, with per-epoch checkpoints and resume. Stop via JobHooks. */
import { access, constants, mkdir } from 'node:fs/promises';
import { batchIterator } from '@convlens/core/data/batches';
import { standardizerToJSON } from '@convlens/core/data/standardize';
import { type BackendName, initBackend, type tf } from '@convlens/core/engine/backend';
import type { JobHooks } from '@convlens/core/jobs/job';
import { buildModel } from '@convlens/core/models/build';
import type { EpochRecord, History } from '@convlens/core/train/history';
import { trainModel } from '@convlens/core/train/loop';
import { makeOptimizer, resolveOptimizer } from '@convlens/core/train/optimizers';
import { writeJsonAtomic } from '../io/atomic.ts';
import { saveModel } from '../io/model-io.ts';
import { downloadProgress } from '../progress/download-progress.ts';
import { type Progress, progressBar } from '../progress/progress-bar.ts';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.ts';
import { evalBatches, planData } from '../train/data-plan.ts';
import { type RunConfig, readRunConfig, runPaths } from '../train/run-dir.ts';

export interface TrainCliOptions {
  model: string;
  dataset: string;
  dataDir?: string;
  download: boolean;
  epochs: number;
  batchSize: number;
  optimizer: string;
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  valSplit?: number;
  limit?: number;
  seed: number;
  out: string;
  resume?: boolean;
  force?: boolean;
  patience?: number;
  minDelta?: number;
  standardize?: boolean;
  rotation?: number;
  shift?: number;
  zoom?: number;
  flip?: boolean;
  json?: boolean;
  backend: BackendName;
}

export interface TrainSummary {
  run: string;
  model: string;
  dataset: string;
  split: string;
  note?: string;
  epochs: number;
  stopReason: History['stopReason'];
  final?: EpochRecord;
  heldOut?: { set: 'test' | 'validation'; count: number; accuracy: number; loss: number };
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err: any) {
    throw new Error(`--out ${dir}: cannot write there (${err.code ?? err.message})`);
  }
}

/**
 * Trains as `opts` says. `hooks.shouldStop` is polled after every batch: the run then keeps its last
 * checkpoint and returns stopReason 'interrupted' (the CLI maps Ctrl-C to it).
 */
export async function trainCommand(
  opts: TrainCliOptions,
  log: (s: string) => void,
  hooks: JobHooks = {},
): Promise<TrainSummary> {
  const paths = runPaths(opts.out);
  const backend = await initBackend(opts.backend);
  let config: RunConfig | undefined;
  if (opts.resume) {
    config = await readRunConfig(opts.out);
  } else {
    const existing = await readRunConfig(opts.out).then(
      () => true,
      () => false,
    );
    if (existing && !opts.force) {
      throw new Error(
        `--out ${opts.out} already holds a run: use --resume to continue it or --force to overwrite`,
      );
    }
  }
  await ensureWritableDir(opts.out);

  const modelName = config?.model ?? opts.model;
  const scaling = config?.scaling ?? (opts.standardize ? 'standardize' : 'unit');
  const seed = config?.seed ?? opts.seed;
  const plan = await planData({
    dataset: config?.dataset ?? opts.dataset,
    dataDir: opts.dataDir,
    download: opts.download,
    downloadOptions: downloadProgress(log),
    valFraction: config?.valFraction ?? opts.valSplit ?? 0.2,
    seed,
    limit: config ? config.limit : opts.limit,
    scaling,
    standardizer: config?.standardizer,
  });
  const { train, val } = plan;
  log(`data: ${plan.provenance.dataset} from ${plan.provenance.source} (${plan.provenance.split} split)`);
  if (plan.provenance.note) log(`      ${plan.provenance.note}`);
  log(`      train ${train.count}, validation ${val.count}${plan.test ? `, test ${plan.test.count}` : ''}`);

  const inputShape: [number, number, number] = [train.height, train.width, train.channels];
  const numClasses = train.numClasses;
  const optimizerConfig = config
    ? (config.optimizer as any)
    : resolveOptimizer({
        name: opts.optimizer,
        learningRate: opts.lr,
        momentum: opts.momentum,
        nesterov: opts.nesterov,
      });
  const optimizer = makeOptimizer(optimizerConfig);
  const batchSize = config?.batchSize ?? opts.batchSize;
  const augment =
    config?.augment ??
    (opts.rotation || opts.shift || opts.zoom || opts.flip
      ? {
          rotation: opts.rotation ?? 0,
          widthShift: opts.shift ?? 0,
          heightShift: opts.shift ?? 0,
          zoom: opts.zoom ?? 0,
          horizontalFlip: !!opts.flip,
        }
      : undefined);
  const earlyStopping =
    config?.earlyStopping ??
    (opts.patience ? { patience: opts.patience, minDelta: opts.minDelta ?? 0 } : undefined);

  let model: tf.LayersModel;
  let previousRecords: EpochRecord[] = [];
  if (opts.resume) {
    const ckpt = await loadCheckpoint(paths.checkpoint);
    model = ckpt.model;
    previousRecords = ckpt.records;
    await ckpt.restoreOptimizer(optimizer);
    log(`resume: from the checkpoint after epoch ${ckpt.epoch} in ${paths.checkpoint}`);
  } else {
    model = buildModel(modelName, { inputShape, numClasses, seed });
  }
  const epochs = opts.epochs;
  if (!config) {
    config = {
      version: 1,
      model: modelName,
      dataset: plan.provenance.dataset,
      inputShape,
      numClasses,
      classNames: train.classNames,
      seed,
      batchSize,
      epochs,
      optimizer: optimizerConfig as unknown as Record<string, unknown>,
      valFraction: opts.valSplit ?? 0.2,
      limit: opts.limit,
      scaling,
      standardizer: plan.standardizer ? standardizerToJSON(plan.standardizer) : undefined,
      augment: augment as Record<string, unknown> | undefined,
      earlyStopping,
      provenance: plan.provenance,
      trainCount: train.count,
      valCount: val.count,
      backend,
      createdAt: new Date().toISOString(),
    };
    await writeJsonAtomic(paths.config, config);
  } else if (epochs !== config.epochs) {
    await writeJsonAtomic(paths.config, { ...config, epochs });
  }
  const metadata = {
    convlens: {
      model: modelName,
      dataset: config.dataset,
      classNames: config.classNames,
      scaling,
      standardizer: config.standardizer,
    },
  };

  const batchesPerEpoch = Math.ceil(train.count / batchSize);
  let bar: Progress | undefined;
  let history: History;
  try {
    history = await trainModel(model, {
      optimizer,
      epochs,
      previousRecords,
      trainBatches: (e) =>
        batchIterator(train, undefined, batchSize, {
          shuffle: true,
          seed,
          epoch: e,
          augment: augment as any,
          scaling,
          standardizer: plan.standardizer,
        }),
      valBatches: evalBatches(val, 256, plan.standardizer),
      earlyStopping,
      shouldStop: () => !!hooks.shouldStop?.(),
      onBatchEnd(info) {
        if (info.batch === 0) {
          bar = progressBar(`epoch ${info.epoch}/${epochs}`, train.count, 'img', ' | loss {loss} acc {acc}', {
            loss: '-',
            acc: '-',
          });
        }
        bar?.update(info.images, { loss: info.epochLoss.toFixed(4), acc: info.epochAcc.toFixed(4) });
        if (info.batch === batchesPerEpoch - 1) {
          bar?.stop();
          bar = undefined;
        }
      },
      async onEpochEnd(record, state) {
        bar?.stop();
        bar = undefined;
        log(
          `epoch ${record.epoch}/${epochs}: loss ${record.loss.toFixed(4)} acc ${record.acc.toFixed(4)}` +
            (record.valLoss !== undefined
              ? ` | val_loss ${record.valLoss.toFixed(4)} val_acc ${record.valAcc!.toFixed(4)}`
              : '') +
            ` | ${record.seconds.toFixed(1)} s, ${Math.round(record.imagesPerSecond)} img/s` +
            (record.note ? `\n  ${record.note}` : ''),
        );
        await saveCheckpoint(paths.checkpoint, model, optimizer, state.history.records);
        await saveModel(model, paths.model, metadata);
        await writeJsonAtomic(paths.history, { ...state.history, provenance: plan.provenance, backend });
      },
    });
  } finally {
    bar?.stop();
  }

  const summary: TrainSummary = {
    run: opts.out,
    model: modelName,
    dataset: config.dataset,
    split: plan.provenance.split,
    note: plan.provenance.note,
    epochs: history.records.at(-1)?.epoch ?? 0,
    stopReason: history.stopReason,
    final: history.records.at(-1),
  };
  if (history.stopReason === 'interrupted') {
    log(
      history.records.length
        ? `interrupted: the checkpoint after epoch ${summary.epochs} is in ${paths.checkpoint}; continue with --resume`
        : 'interrupted before the first epoch ended: nothing was saved',
    );
  } else if (history.records.length) {
    const { evaluateModel } = await import('@convlens/core/eval/metrics');
    const heldOutSet = plan.test ?? val;
    const ev = await evaluateModel(model, evalBatches(heldOutSet, 256, plan.standardizer)(), numClasses, {
      maxMisclassified: 0,
    });
    summary.heldOut = {
      set: plan.test ? 'test' : 'validation',
      count: ev.count,
      accuracy: ev.accuracy,
      loss: ev.loss,
    };
    log(
      `${plan.test ? 'test' : 'held-out validation'} accuracy ${(ev.accuracy * 100).toFixed(2)}% ` +
        `on ${ev.count} images (loss ${ev.loss.toFixed(4)}); run saved in ${opts.out}`,
    );
  }
  model.dispose();
  optimizer.dispose();
  return summary;
}
