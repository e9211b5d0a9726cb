/**
 * The training job: a zoo model on a dataset, with per-epoch checkpoints and resume. Stop via JobHooks.
 * One writer per run folder (train/run-lock.ts). A run that ends before its first checkpoint leaves
 * nothing behind (run.json is written with the first checkpoint; folders this process made are
 * removed), so a run folder always holds a resumable run or none.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { standardizerToJSON } from '@convlens/core/data/standardize';
import { type BackendName, initBackend, type tf } from '@convlens/core/engine/backend';
import type { JobHooks } from '@convlens/core/jobs/job';
import { buildModel } from '@convlens/core/models/build';
import type { EpochRecord, History } from '@convlens/core/train/history';
import { trainModel } from '@convlens/core/train/loop';
import { makeOptimizer, resolveOptimizer } from '@convlens/core/train/optimizers';
import { writeJsonAtomic } from '../io/atomic.ts';
import { checkWritableDir, ensureDir } from '../io/ensure-dir.ts';
import { saveModel } from '../io/model-io.ts';
import { registerOutput } from '../io/write-errors.ts';
import { downloadProgress } from '../progress/download-progress.ts';
import { type Progress, progressBar } from '../progress/progress-bar.ts';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.ts';
import { recoverCheckpoint } from '../train/checkpoint-recovery.ts';
import { evalBatches, planData } from '../train/data-plan.ts';
import { type RunConfig, readHistory, readRunConfig, runPaths } from '../train/run-dir.ts';
import { lockRunDir, type RunLock } from '../train/run-lock.ts';

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
  /** The run folder's lock, when the caller holds it across several calls (the lab); else taken here. */
  runLock?: RunLock;
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

/** What this call has put on disk so far: tells what to keep or remove when it ends early. */
interface Written {
  /** run.json written by this call for a fresh run. */
  config: boolean;
  /** A checkpoint exists that --resume can continue (written now, or there before a --resume). */
  checkpoint: boolean;
}

/**
 * Trains as `opts` says. `hooks.shouldStop` is polled after every batch: the run then keeps its last
 * checkpoint and returns stopReason 'interrupted' (the CLI maps Ctrl-C to it). The run folder is
 * locked for the whole call; when it ends (error or stop) before its first checkpoint, what it made
 * is removed again.
 */
export async function trainCommand(
  opts: TrainCliOptions,
  log: (s: string) => void,
  hooks: JobHooks = {},
): Promise<TrainSummary> {
  const backend = await initBackend(opts.backend);
  const target = await checkWritableDir(opts.out, '--out');
  registerOutput(opts.out, '--out');
  await ensureDir(opts.out, '--out');
  // The outermost folder this call created (removed again when the run saves nothing).
  const made = target.missing.length ? join(target.existing, target.missing[0]) : undefined;
  const written: Written = { config: false, checkpoint: false };
  let lock: RunLock | undefined;
  let keep = false;
  try {
    lock = opts.runLock ?? (await lockRunDir(opts.out, log));
    const summary = await trainLocked(opts, log, hooks, backend, written);
    keep = written.checkpoint;
    return summary;
  } catch (err) {
    keep = written.checkpoint;
    throw err;
  } finally {
    if (!keep && lock) await removeUnsaved(opts.out, written);
    if (lock && !opts.runLock) await lock.release();
    if (!keep && made) await removeEmptyDirs(opts.out, made);
  }
}

/** A fresh run that ended before its first checkpoint: remove the run.json it wrote. */
async function removeUnsaved(dir: string, written: Written): Promise<void> {
  const paths = runPaths(dir);
  if (written.config) await rm(paths.config, { force: true });
  // The first checkpoint's folder, when writing it failed (e.g. a full disk).
  await rmdir(join(dir, 'checkpoints')).catch(() => {});
}

/** Removes `dir` and its parents up to `top` while they are empty (the folders this call made). */
async function removeEmptyDirs(dir: string, top: string): Promise<void> {
  for (let d = dir; d.length >= top.length; d = join(d, '..')) {
    const entries = await readdir(d).catch(() => undefined);
    if (!entries || entries.length > 0) return;
    await rmdir(d).catch(() => {});
    if (d === top) return;
  }
}

/** A folder with run.json but no checkpoint nor history: a run killed before its first epoch ended. */
async function neverSaved(dir: string): Promise<boolean> {
  const paths = runPaths(dir);
  if ((await recoverCheckpoint(paths.checkpoint)) !== undefined) return false;
  return readHistory(dir).then(
    () => false,
    () => true,
  );
}

async function trainLocked(
  opts: TrainCliOptions,
  log: (s: string) => void,
  hooks: JobHooks,
  backend: string,
  written: Written,
): Promise<TrainSummary> {
  const paths = runPaths(opts.out);
  let config: RunConfig | undefined;
  if (opts.resume) {
    config = await readRunConfig(opts.out);
    const epoch = await recoverCheckpoint(paths.checkpoint, log);
    // An incomplete `last` with nothing better: loadCheckpoint below says what is wrong with it.
    if (epoch === undefined && !existsSync(paths.checkpoint)) {
      throw new Error(
        `--out ${opts.out}: no checkpoint to resume from (the run stopped before its first epoch ended); run it again without --resume`,
      );
    }
    written.checkpoint = true;
  } else {
    const existing = await readRunConfig(opts.out).then(
      () => true,
      () => false,
    );
    if (existing && !opts.force) {
      if (!(await neverSaved(opts.out))) {
        throw new Error(
          `--out ${opts.out} already holds a run: use --resume to continue it or --force to overwrite`,
        );
      }
      log(
        `--out ${opts.out}: its run stopped before its first epoch ended (nothing to resume); starting afresh`,
      );
    }
  }

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
    const ckpt = await loadCheckpoint(paths.checkpoint).catch((err) => {
      optimizer.dispose();
      throw err;
    });
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
  } else if (epochs !== config.epochs) {
    await writeJsonAtomic(paths.config, { ...config, epochs });
  }
  const fresh = !opts.resume;
  const runConfig = config;
  const metadata = {
    convlens: {
      model: modelName,
      dataset: config.dataset,
      classNames: config.classNames,
      scaling,
      standardizer: config.standardizer,
    },
  };

  const writeHistory = (h: History) =>
    writeJsonAtomic(paths.history, { ...h, provenance: plan.provenance, backend });
  const batchesPerEpoch = Math.ceil(train.count / batchSize);
  let bar: Progress | undefined;
  let history: History;
  let lastHistory: History | undefined;
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
      seed,
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
        if (fresh && !written.checkpoint) {
          // The first checkpoint of a fresh run: the old run's files (--force) go now, not before,
          // so a run that fails in its first epoch leaves the old one whole.
          for (const p of [paths.history, paths.model, join(opts.out, 'checkpoints')])
            await rm(p, { recursive: true, force: true });
          await writeJsonAtomic(paths.config, runConfig);
          written.config = true;
        }
        await saveCheckpoint(paths.checkpoint, model, optimizer, state.history.records);
        written.checkpoint = true;
        lastHistory = state.history;
        await saveModel(model, paths.model, metadata);
        await writeHistory({
          ...state.history,
          stopReason: state.last ? state.history.stopReason : 'running',
        });
      },
    });
  } catch (err) {
    model.dispose();
    optimizer.dispose();
    // A resumable run records why it stopped; one without a checkpoint is removed by the caller.
    const base = written.checkpoint
      ? (lastHistory ?? (await readHistory(opts.out).catch(() => undefined)))
      : undefined;
    if (base)
      await writeHistory({ ...base, stopReason: 'failed', error: (err as Error).message }).catch(() => {});
    // Say what is left (file-system errors keep their code for the CLI's wording).
    if (err instanceof Error && !(err as NodeJS.ErrnoException).code) {
      const last = base?.records.at(-1)?.epoch;
      err.message += last
        ? `; training stopped, the checkpoint after epoch ${last} is kept (${paths.checkpoint})`
        : '; training stopped, nothing was saved';
    }
    throw err;
  } finally {
    bar?.stop();
  }
  if (history.stopReason === 'interrupted' && written.checkpoint) {
    // history.json was last written as 'running' (or 'completed' by an earlier call): say it stopped.
    await writeHistory(history);
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
