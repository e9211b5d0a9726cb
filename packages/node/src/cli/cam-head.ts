/**
 * `convlens cam-head`: the lab's `model_gap`. Cuts a training run's model at a conv layer, adds global
 * average pooling + one dense layer (models/cam-head.ts), trains that head on the run's own data
 * (the base frozen, or everything with --fine-tune), compares test accuracy with the original, and
 * writes a normal run directory, so `convlens explain --model OUT --method cam` works on it.
 */
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { type BackendName, initBackend, type tf } from '@convlens/core/engine/backend';
import { evaluateModel, lossAndAccuracy } from '@convlens/core/eval/metrics';
import { buildCamModel, camHead } from '@convlens/core/models/cam-head';
import type { History } from '@convlens/core/train/history';
import { trainModel } from '@convlens/core/train/loop';
import { makeOptimizer, resolveOptimizer } from '@convlens/core/train/optimizers';
import type { Command } from 'commander';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { saveModel } from '../io/model-io.ts';
import { saveCheckpoint } from '../train/checkpoint.ts';
import { evalBatches, planData } from '../train/data-plan.ts';
import { loadRun } from '../train/load-run.ts';
import { type RunConfig, readRunConfig, runPaths } from '../train/run-dir.ts';
import { action, backendOption, dataOptions, log } from './common.ts';
import { downloadProgress } from './download-progress.ts';
import { nonNegativeInt, positiveInt, positiveNumber } from './options.ts';
import { type Progress, progressBar } from './progress.ts';

export interface CamHeadOptions {
  run: string;
  layer?: string;
  /** Filters of an extra 3×3 conv layer before the GAP (0: none). */
  conv?: number;
  epochs: number;
  fineTune?: boolean;
  lr?: number;
  batchSize?: number;
  out?: string;
  force?: boolean;
  dataDir?: string;
  download: boolean;
  json?: boolean;
  backend: BackendName;
}

export interface CamHeadSummary {
  run: string;
  from: string;
  layer: string;
  epochs: number;
  fineTune: boolean;
  /** Held-out accuracy of the GAP model, and of the run's original model on the same images. */
  accuracy: number;
  baseAccuracy: number;
  set: 'test' | 'validation';
  count: number;
  stopReason: History['stopReason'];
}

export async function camHeadCommand(o: CamHeadOptions): Promise<CamHeadSummary> {
  const out = o.out ?? `${o.run.replace(/\/+$/, '')}-cam`;
  if (resolve(out) === resolve(o.run))
    throw new Error('--out must differ from --run (the original run is kept)');
  const backend = await initBackend(o.backend);
  // The run directory is replaced as a whole: never a folder that holds something else.
  const entries = await readdir(out).catch(() => null);
  if (entries?.length) {
    const isRun = await readRunConfig(out).then(
      () => true,
      () => false,
    );
    if (!isRun) throw new Error(`--out ${out} exists and is not a run directory: refusing to replace it`);
    if (!o.force) throw new Error(`--out ${out} already holds a run (use --force to replace it)`);
  }
  const run = await loadRun(o.run);
  const { config } = run;
  let model: tf.LayersModel | undefined;
  let optimizer: tf.Optimizer | undefined;
  try {
    // The model first: a bad --layer fails before any data is read.
    const fineTune = !!o.fineTune;
    model = await buildCamModel(run.model, {
      layer: o.layer,
      conv: o.conv,
      freeze: !fineTune,
      seed: config.seed,
    });
    const plan = await planData({
      dataset: config.dataset,
      dataDir: o.dataDir,
      download: o.download,
      downloadOptions: downloadProgress(log),
      valFraction: config.valFraction,
      seed: config.seed,
      limit: config.limit,
      scaling: config.scaling,
      standardizer: config.standardizer,
    });
    const { train, val } = plan;
    const heldOut = plan.test ?? val;
    const layer = camHead(model).featureLayer.name;
    const trainable = model.trainableWeights.reduce(
      (n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1),
      0,
    );
    log(
      `cam-head: ${o.run} (${config.model}) cut at ${layer} [${(model.getLayer(layer).outputShape as number[]).slice(1)}] + GAP + dense ${config.numClasses}; ` +
        `${fineTune ? 'fine-tuning everything' : 'base frozen'} (${trainable} trainable parameters)`,
    );
    log(`data: ${config.dataset}: train ${train.count}, validation ${val.count}, held-out ${heldOut.count}`);

    // GAP features of a net trained with a flatten head are weak and small, so the head needs a
    // high rate; fine-tuning moves trained features, so lower (on MNIST/cnn1 these learned fastest).
    const optimizerConfig = resolveOptimizer({
      name: 'adam',
      learningRate: o.lr ?? (fineTune ? 3e-3 : 1e-2),
    });
    optimizer = makeOptimizer(optimizerConfig);
    const batchSize = o.batchSize ?? config.batchSize;
    const m = model;
    const opt = optimizer;
    let stopRequested = false;
    const onSigint = () => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      log('\ninterrupt: stopping after this batch; nothing will be saved (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    let bar: Progress | undefined;
    let history: History;
    try {
      history = await trainModel(m, {
        optimizer: opt,
        epochs: o.epochs,
        trainBatches: (e) =>
          batchIterator(train, undefined, batchSize, {
            shuffle: true,
            seed: config.seed,
            epoch: e,
            augment: config.augment as any,
            scaling: config.scaling,
            standardizer: plan.standardizer,
          }),
        valBatches: evalBatches(val, 256, plan.standardizer),
        shouldStop: () => stopRequested,
        onBatchEnd(info) {
          if (info.batch === 0)
            bar = progressBar(
              `epoch ${info.epoch}/${o.epochs}`,
              train.count,
              'img',
              ' | loss {loss} acc {acc}',
              {
                loss: '-',
                acc: '-',
              },
            );
          bar?.update(info.images, { loss: info.epochLoss.toFixed(4), acc: info.epochAcc.toFixed(4) });
        },
        onEpochEnd(record) {
          bar?.stop();
          bar = undefined;
          log(
            `epoch ${record.epoch}/${o.epochs}: loss ${record.loss.toFixed(4)} acc ${record.acc.toFixed(4)}` +
              (record.valLoss !== undefined
                ? ` | val_loss ${record.valLoss.toFixed(4)} val_acc ${record.valAcc!.toFixed(4)}`
                : '') +
              ` | ${record.seconds.toFixed(1)} s`,
          );
        },
      });
    } finally {
      bar?.stop();
      process.off('SIGINT', onSigint);
    }
    if (history.stopReason === 'interrupted') {
      const err = new Error('interrupted: nothing was saved');
      (err as any).exitCode = 130;
      throw err;
    }

    const evalSet = () => evalBatches(heldOut, 256, plan.standardizer)();
    const ev = await evaluateModel(m, evalSet(), config.numClasses, { maxMisclassified: 0 });
    const base = await lossAndAccuracy(run.model, evalSet());
    const setName = plan.test ? 'test' : 'validation';
    log(
      `${setName} accuracy: GAP model ${(ev.accuracy * 100).toFixed(2)}%, original ${(base.accuracy * 100).toFixed(2)}% ` +
        `on ${ev.count} images`,
    );

    const newConfig: RunConfig & { camHead: Record<string, unknown> } = {
      ...config,
      model: `${config.model}+cam`,
      batchSize,
      epochs: o.epochs,
      optimizer: optimizerConfig as unknown as Record<string, unknown>,
      earlyStopping: undefined,
      backend,
      createdAt: new Date().toISOString(),
      camHead: {
        from: o.run,
        layer,
        conv: o.conv ?? 0,
        freeze: !fineTune,
        accuracy: ev.accuracy,
        baseAccuracy: base.accuracy,
        set: setName,
      },
    };
    const metadata = {
      convlens: {
        model: newConfig.model,
        dataset: config.dataset,
        classNames: config.classNames,
        scaling: config.scaling,
        standardizer: config.standardizer,
      },
    };
    // The whole run directory appears at once, or not at all.
    await writeDirAtomic(out, async (dir) => {
      const paths = runPaths(dir);
      await writeJsonAtomic(paths.config, newConfig);
      await saveModel(m, paths.model, metadata);
      await saveCheckpoint(paths.checkpoint, m, opt, history.records);
      await writeJsonAtomic(paths.history, { ...history, provenance: plan.provenance, backend });
    });
    log(`run saved in ${out}; try: convlens explain --model ${out} --method cam --index 0 --out <dir>`);
    return {
      run: out,
      from: o.run,
      layer,
      epochs: history.records.at(-1)?.epoch ?? 0,
      fineTune,
      accuracy: ev.accuracy,
      baseAccuracy: base.accuracy,
      set: setName,
      count: ev.count,
      stopReason: history.stopReason,
    };
  } finally {
    model?.dispose();
    optimizer?.dispose();
    run.model.dispose();
  }
}

export function registerCamHeadCommand(program: Command): void {
  dataOptions(
    program
      .command('cam-head')
      .description(
        "CAM network (the lab's model_gap): cut a run's model at a conv layer, add global average pooling + dense, train the head, write a run for `explain --method cam`",
      )
      .requiredOption('--run <dir>', 'run directory written by `convlens train`'),
  )
    .option('--layer <name>', 'layer to cut at (default: the last conv block with a spatial output > 1×1)')
    .option(
      '--conv <n>',
      'add a 3×3 conv layer of N filters before the GAP, as Zhou et al. do (for shallow cuts)',
      nonNegativeInt('--conv'),
      0,
    )
    .option('--epochs <n>', 'training epochs for the new head', positiveInt('--epochs'), 3)
    .option('--fine-tune', 'train the whole network, not only the head')
    .option('--lr <x>', 'Adam learning rate (default 0.01; 0.003 with --fine-tune)', positiveNumber('--lr'))
    .option('--batch-size <n>', 'batch size (default: the run’s)', positiveInt('--batch-size'))
    .option('--out <dir>', 'new run directory (default: RUN_DIR-cam)')
    .option('--force', 'replace an existing run in --out')
    .option('--json', 'print {accuracy, baseAccuracy, layer, epochs, …} as JSON on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: CamHeadOptions) => {
        try {
          const s = await camHeadCommand(o);
          if (o.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        } catch (err: any) {
          if (err?.exitCode === 130) {
            log(err.message);
            process.exit(130);
          }
          throw err;
        }
      }),
    );
}
