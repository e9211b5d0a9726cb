/**
 * The classify job: a classic classifier (logreg, svm, knn, forest, mlp) on a features folder.
 * Stratified k-fold cross-validation on the train rows (standardization fitted inside each fold),
 * then one fit on all train rows, scored on the held-out test rows (confusion matrix, per-class
 * P/R/F1), and saved as classifier.json with the features' model fingerprint and layer, so
 * `classify --classifier` can run model → features → classifier on new images.
 */
import { join } from 'node:path';
import { stratifiedSplit } from '@convlens/core/data/split';
import { type ConfusionStats, confusionStats } from '@convlens/core/eval/confusion';
import { stratifiedFolds } from '@convlens/core/features/folds';
import {
  fitStandardizer,
  type RowStandardizer,
  standardRows,
} from '@convlens/core/features/standardize-rows';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { type ClassifyMethod, METHODS } from '../classify/methods.ts';
import { type Features, readFeatures } from '../features/read-features.ts';
import { checkOutDir } from '../figures/figure-set.ts';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import type { OpenedModel } from '../open/open-model.ts';

export const CLASSIFIER_FORMAT = 'convlens-classifier';

export interface ClassifyOptions {
  /** A features folder, or features already read. */
  features: string | Features;
  method: ClassifyMethod;
  /** Folds (default 5; 0 or 1: no cross-validation). */
  cv?: number;
  seed?: number;
  /** When the features have only one split: the test share made here (default 0.2). */
  testFraction?: number;
  /** Writes classifier.json and result.json here (replaced atomically). */
  out?: string;
  /** When given, must be the model the features came from. */
  model?: OpenedModel;
}

export interface ClassScores {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassifySummary {
  method: ClassifyMethod;
  library: string;
  settings: string;
  features: {
    dir: string;
    model: string;
    fingerprint: string;
    layer: string;
    pool: string;
    rows: number;
    f: number;
  };
  classes: string[];
  /** How the train/test rows were chosen. */
  split: string;
  train: number;
  test: number;
  cv: { folds: number; accuracies: number[]; mean: number; std: number; seconds: number } | null;
  /** On the held-out test rows. */
  accuracy: number;
  confusion: number[][];
  perClass: ClassScores[];
  macroF1: number;
  /** Fitting on all train rows / predicting the test rows. */
  fitSeconds: number;
  predictSeconds: number;
  /** Chance level: the largest class's share of the test rows. */
  chance: number;
  files: string[];
}

/** What classifier.json holds. */
export interface ClassifierFile {
  format: typeof CLASSIFIER_FORMAT;
  version: 1;
  method: ClassifyMethod;
  library: string;
  settings: string;
  model: { source: string; fingerprint: string };
  layer: string;
  pool: Features['index']['pool'];
  layerShape: number[];
  features: number;
  preprocess: Features['index']['preprocess'];
  /** Class names; the classifier predicts indices into them. */
  classNames: string[];
  /** Dense classifier label → class index. */
  classIndex: number[];
  standardizer: RowStandardizer;
  state: unknown;
  trainedOn: { dataset: string; fingerprint: string; rows: number };
  accuracy: number;
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(a.length, 1);
const std = (a: number[]) => Math.sqrt(mean(a.map((v) => (v - mean(a)) ** 2)));

function confusionOf(truth: number[], pred: number[], k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  truth.forEach((t, i) => {
    m[t][pred[i]]++;
  });
  return m;
}

/** The fingerprint check shared by training (--model) and prediction. */
export function checkSameModel(m: OpenedModel, fingerprint: string, what: string, source: string): void {
  const mine = modelFingerprint(m.model);
  if (mine !== fingerprint)
    throw new Error(
      `${what} come from another model (${source}, fingerprint ${fingerprint}); --model ${m.source} has fingerprint ${mine}`,
    );
}

export async function classifyFeatures(o: ClassifyOptions, hooks: JobHooks = {}): Promise<ClassifySummary> {
  const log = (s: string) => hooks.log?.(s);
  if (o.out) await checkOutDir(o.out);
  const dir = typeof o.features === 'string' ? o.features : '(in memory)';
  const r = typeof o.features === 'string' ? await readFeatures(o.features) : o.features;
  if (o.model) checkSameModel(o.model, r.index.model.fingerprint, `features ${dir}`, r.index.model.source);
  const method = METHODS[o.method];
  const seed = o.seed ?? 1;
  const folds = o.cv ?? 5;

  // Labelled rows only; classes renumbered 0…k−1 over those present (libraries expect that).
  const labelled = Array.from({ length: r.n }, (_, i) => i).filter((i) => r.labels[i] >= 0);
  if (labelled.length === 0) throw new Error(`${dir}: no labelled rows (labels.csv has no labels)`);
  const classIndex = [...new Set(labelled.map((i) => r.labels[i]))].sort((a, b) => a - b);
  if (classIndex.length < 2)
    throw new Error(`${dir}: only one class (${classIndex[0]}); nothing to classify`);
  const dense = new Map(classIndex.map((c, j) => [c, j]));
  const yOf = (i: number) => dense.get(r.labels[i])!;
  const k = classIndex.length;
  const names = classIndex.map((c) => r.index.classNames[c] ?? String(c));

  let train = labelled.filter((i) => r.split[i] === 'train');
  let test = labelled.filter((i) => r.split[i] === 'test');
  let split = 'the features’ own train/test split';
  if (train.length === 0 || test.length === 0) {
    const fraction = o.testFraction ?? 0.2;
    const s = stratifiedSplit(
      Uint16Array.from(labelled, (i) => yOf(i)),
      fraction,
      seed,
    );
    train = Array.from(s.trainIdx, (j) => labelled[j]);
    test = Array.from(s.valIdx, (j) => labelled[j]);
    split = `a seeded stratified ${Math.round(fraction * 100)}% test split made here (the features hold one split only)`;
    log(`classify: ${dir} holds one split only; testing on ${split.replace(/ made here.*/, '')}`);
  }

  let cv: ClassifySummary['cv'] = null;
  if (folds >= 2) {
    const t0 = performance.now();
    const fold = stratifiedFolds(
      train.map((i) => yOf(i)),
      folds,
      seed,
    );
    const accuracies: number[] = [];
    for (let f = 0; f < folds; f++) {
      checkStop(hooks, 'classify');
      const tr = train.filter((_, j) => fold[j] !== f);
      const va = train.filter((_, j) => fold[j] === f);
      const s = fitStandardizer(r.features, r.f, tr);
      const c = await method.fit(standardRows(r.features, r.f, tr, s), tr.map(yOf), k, seed);
      const pred = c.predict(standardRows(r.features, r.f, va, s));
      c.dispose();
      accuracies.push(pred.filter((p, j) => p === yOf(va[j])).length / va.length);
      hooks.onProgress?.(f + 1, folds + 1, { phase: `fold ${f + 1}/${folds}` });
    }
    cv = {
      folds,
      accuracies,
      mean: mean(accuracies),
      std: std(accuracies),
      seconds: (performance.now() - t0) / 1000,
    };
  }

  checkStop(hooks, 'classify');
  const t1 = performance.now();
  const standardizer = fitStandardizer(r.features, r.f, train);
  const c = await method.fit(standardRows(r.features, r.f, train, standardizer), train.map(yOf), k, seed);
  const fitSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const pred = c.predict(standardRows(r.features, r.f, test, standardizer));
  const predictSeconds = (performance.now() - t2) / 1000;
  hooks.onProgress?.(folds + 1, folds + 1, { phase: 'test' });
  const truth = test.map(yOf);
  const confusion = confusionOf(truth, pred, k);
  const stats: ConfusionStats = confusionStats(confusion);
  const counts = new Array<number>(k).fill(0);
  for (const t of truth) counts[t]++;

  const files: string[] = [];
  const summary: ClassifySummary = {
    method: o.method,
    library: method.library,
    settings: method.settings,
    features: {
      dir,
      model: r.index.model.source,
      fingerprint: r.index.model.fingerprint,
      layer: r.index.layer,
      pool: r.index.pool,
      rows: r.n,
      f: r.f,
    },
    classes: names,
    split,
    train: train.length,
    test: test.length,
    cv,
    accuracy: stats.accuracy,
    confusion,
    perClass: stats.perClass.map((p, j) => ({ name: names[j], ...p })),
    macroF1: stats.macroF1,
    fitSeconds,
    predictSeconds,
    chance: Math.max(...counts) / Math.max(truth.length, 1),
    files,
  };
  try {
    if (o.out) {
      const file: ClassifierFile = {
        format: CLASSIFIER_FORMAT,
        version: 1,
        method: o.method,
        library: method.library,
        settings: method.settings,
        model: r.index.model,
        layer: r.index.layer,
        pool: r.index.pool,
        layerShape: r.index.layerShape,
        features: r.f,
        preprocess: r.index.preprocess,
        classNames: r.index.classNames,
        classIndex,
        standardizer,
        state: c.state(),
        trainedOn: {
          dataset: r.index.dataset.description,
          fingerprint: r.index.dataset.fingerprint,
          rows: train.length,
        },
        accuracy: stats.accuracy,
      };
      files.push('classifier.json', 'result.json');
      await writeDirAtomic(o.out, async (tmp) => {
        await writeJsonAtomic(join(tmp, 'classifier.json'), file);
        await writeJsonAtomic(join(tmp, 'result.json'), summary);
      });
      log(`classify: classifier saved to ${join(o.out, 'classifier.json')}`);
    }
  } finally {
    c.dispose();
  }
  return summary;
}
