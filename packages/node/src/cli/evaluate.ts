/** `convlens evaluate`: accuracy, loss, confusion matrix, per-class precision/recall/F1, misclassified. */

import { takeFirst } from '@convlens/core/data/split';
import type { Standardizer } from '@convlens/core/data/standardize';
import type { ImageSet } from '@convlens/core/data/types';
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { type Evaluation, evaluateModel } from '@convlens/core/eval/metrics';
import { loadDataset } from '../data/load.ts';
import { loadModel } from '../io/model-io.ts';
import { evalBatches, planData } from '../train/data-plan.ts';
import { readRunConfig, runPaths } from '../train/run-dir.ts';
import { downloadProgress } from './download-progress.ts';

export interface EvaluateCliOptions {
  run: string;
  dataset?: string;
  dataDir?: string;
  download: boolean;
  limit?: number;
  backend: BackendName;
}

export interface EvaluateReport extends Evaluation {
  run: string;
  dataset: string;
  set: string;
  classNames?: string[];
}

export async function evaluateCommand(
  opts: EvaluateCliOptions,
  log: (s: string) => void,
): Promise<EvaluateReport> {
  await initBackend(opts.backend);
  const config = await readRunConfig(opts.run);
  const { model } = await loadModel(runPaths(opts.run).model);
  const sameData = !opts.dataset || opts.dataset === config.dataset;
  let set: ImageSet;
  let setName: string;
  let standardizer: Standardizer | undefined;
  if (sameData) {
    // The run's own held-out data: the test split, or (from-test runs) the seeded validation split.
    const plan = await planData({
      dataset: config.dataset,
      dataDir: opts.dataDir,
      download: opts.download,
      downloadOptions: downloadProgress(log),
      valFraction: config.valFraction,
      seed: config.seed,
      limit: config.limit,
      scaling: config.scaling,
      standardizer: config.standardizer,
    });
    set = plan.test ?? plan.val;
    setName = plan.test ? 'test' : 'held-out validation, split from the test set';
    standardizer = plan.standardizer;
  } else {
    const loaded = await loadDataset(opts.dataset!, {
      dataDir: opts.dataDir,
      download: opts.download,
      downloadOptions: downloadProgress(log),
      train: false,
    });
    set = loaded.test;
    setName = 'test';
    const { standardizerFromJSON } = await import('@convlens/core/data/standardize');
    standardizer = config.standardizer ? standardizerFromJSON(config.standardizer) : undefined;
  }
  const [h, w, c] = config.inputShape;
  if (set.height !== h || set.width !== w || set.channels !== c) {
    throw new Error(
      `--dataset ${opts.dataset}: images are ${set.height}×${set.width}×${set.channels}, the model expects ${h}×${w}×${c}`,
    );
  }
  if (opts.limit !== undefined) set = takeFirst(set, opts.limit);
  log(`evaluating ${opts.run}/model on ${set.count} ${setName} images`);
  const ev = await evaluateModel(model, evalBatches(set, 256, standardizer)(), config.numClasses);
  model.dispose();
  return {
    run: opts.run,
    dataset: opts.dataset ?? config.dataset,
    set: setName,
    classNames: config.classNames,
    ...ev,
  };
}

export function formatEvaluation(r: EvaluateReport): string {
  const names = r.classNames ?? r.perClass.map((_, i) => String(i));
  const lines = [
    `accuracy ${(r.accuracy * 100).toFixed(2)}%  loss ${r.loss.toFixed(4)}  macro-F1 ${r.macroF1.toFixed(4)}  (${r.count} images, ${r.set})`,
    '',
    'class           precision  recall  f1      support',
  ];
  r.perClass.forEach((s, i) => {
    lines.push(
      `${names[i].slice(0, 14).padEnd(14)}  ${s.precision.toFixed(4).padStart(9)}  ${s.recall.toFixed(4)}  ${s.f1.toFixed(4)}  ${String(s.support).padStart(7)}`,
    );
  });
  lines.push('', 'confusion matrix (rows = true class, columns = predicted):');
  const width = Math.max(4, ...r.confusion.flat().map((v) => String(v).length + 1));
  for (const row of r.confusion) lines.push(row.map((v) => String(v).padStart(width)).join(''));
  lines.push(
    '',
    `misclassified: ${r.misclassified.length}${
      r.misclassified.length
        ? ` (first indices: ${r.misclassified
            .slice(0, 20)
            .map((m) => m.index)
            .join(', ')})`
        : ''
    }`,
  );
  return lines.join('\n');
}
