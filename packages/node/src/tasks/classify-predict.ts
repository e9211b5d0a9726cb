/**
 * A saved classifier on new images: the model's layer → the same pooling → the saved standardization →
 * the classifier. Refuses a model other than the one the classifier's features came from. With labels
 * (class names matched by name), reports accuracy, confusion matrix and per-class P/R/F1.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { confusionStats } from '@convlens/core/eval/confusion';
import { standardRows } from '@convlens/core/features/standardize-rows';
import type { JobHooks } from '@convlens/core/jobs/job';
import { METHODS } from '../classify/methods.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { normClassName } from '../open/class-lookup.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { CLASSIFIER_FORMAT, type ClassifierFile, type ClassScores, checkSameModel } from './classify.ts';
import { type FeatureDataset, featureRows } from './features.ts';

export interface PredictOptions {
  classifier: string;
  model: OpenedModel;
  dataset: FeatureDataset;
  limit?: number;
  /** predictions.csv (file,predicted,label) written here, when given. */
  out?: string;
  batchSize?: number;
}

export interface PredictSummary {
  classifier: string;
  method: string;
  layer: string;
  images: number;
  /** Per image: predicted class name. */
  predictions: { file: string; predicted: string; label?: string }[];
  /** When the images have labels the classifier knows. */
  accuracy?: number;
  scored: number;
  perClass?: ClassScores[];
  confusion?: number[][];
  seconds: number;
}

export async function readClassifier(path: string): Promise<ClassifierFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: any) {
    throw new Error(`${path}: cannot read classifier (${err.code === 'ENOENT' ? 'not found' : err.code})`);
  }
  let j: any;
  try {
    j = JSON.parse(text);
  } catch {
    throw new Error(`${path}: not valid JSON (corrupt or truncated)`);
  }
  if (j?.format !== CLASSIFIER_FORMAT)
    throw new Error(`${path}: not a convlens classifier (classify --out writes one)`);
  if (!(j.method in METHODS)) throw new Error(`${path}: unknown method '${j.method}'`);
  return j as ClassifierFile;
}

export async function predictWithClassifier(
  o: PredictOptions,
  hooks: JobHooks = {},
): Promise<PredictSummary> {
  const cf = await readClassifier(o.classifier);
  checkSameModel(o.model, cf.model.fingerprint, `classifier ${o.classifier}: its features`, cf.model.source);
  const d = o.dataset.data;
  const n = o.limit === undefined ? d.count : Math.min(o.limit, d.count);
  const t0 = performance.now();
  const rows = await featureRows(
    o.model,
    o.dataset,
    cf.layer,
    cf.pool,
    Uint32Array.from({ length: n }, (_, i) => i),
    o.batchSize,
    hooks,
  );
  if (rows.f !== cf.features)
    throw new Error(
      `${o.classifier}: expects ${cf.features} features per image, layer ${cf.layer} gives ${rows.f}`,
    );
  const idx = Array.from({ length: rows.indices.length }, (_, i) => i);
  const c = await METHODS[cf.method].load(cf.state);
  let pred: number[];
  try {
    pred = c.predict(standardRows(rows.features, rows.f, idx, cf.standardizer));
  } finally {
    c.dispose();
  }
  const names = cf.classIndex.map((ci) => cf.classNames[ci] ?? String(ci));
  // The images' classes matched onto the classifier's by name.
  const byName = new Map(names.map((nm, j) => [normClassName(nm), j]));
  const truth = Array.from(rows.indices, (i) =>
    d.labelled ? (byName.get(normClassName(o.dataset.classNames[d.labels[i]] ?? '')) ?? -1) : -1,
  );
  const predictions = Array.from(rows.indices, (i, j) => ({
    file: o.dataset.file(i),
    predicted: names[pred[j]],
    ...(d.labelled ? { label: o.dataset.classNames[d.labels[i]] } : {}),
  }));
  const k = names.length;
  const scoredRows = truth.map((t, j) => [t, pred[j]]).filter(([t]) => t >= 0);
  let scores: Partial<PredictSummary> = {};
  if (scoredRows.length) {
    const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (const [t, p] of scoredRows) confusion[t][p]++;
    const s = confusionStats(confusion);
    scores = {
      accuracy: s.accuracy,
      confusion,
      perClass: s.perClass.map((p, j) => ({ name: names[j], ...p })),
    };
  }
  if (o.out) {
    const csv = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    const lines = [
      'file,predicted,label',
      ...predictions.map((p) => `${csv(p.file)},${csv(p.predicted)},${csv(p.label ?? '')}`),
    ];
    await writeFileAtomic(join(o.out, 'predictions.csv'), `${lines.join('\n')}\n`);
  }
  return {
    classifier: o.classifier,
    method: cf.method,
    layer: cf.layer,
    images: predictions.length,
    predictions,
    scored: scoredRows.length,
    ...scores,
    seconds: (performance.now() - t0) / 1000,
  };
}
