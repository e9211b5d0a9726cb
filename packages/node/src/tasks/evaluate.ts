/**
 * The evaluate job: any model on any labelled dataset, streamed a chunk at a time — top-1 and top-5
 * accuracy, loss, and either the full confusion matrix with per-class precision/recall/F1 (≤ 20 classes,
 * where it can be read) or the most-confused class pairs (more classes, e.g. ImageNet's 1000).
 */
import { batchIterator } from '@convlens/core/data/batches';
import { type ClassStats, confusionStats } from '@convlens/core/eval/confusion';
import { argMaxRow, type Misclassified, predictBatches } from '@convlens/core/eval/metrics';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { type OpenDatasetOptions, type OpenedDataset, openDataset } from '../open/open-dataset.ts';
import { type OpenedModel, type OpenModelOptions, openModel } from '../open/open-model.ts';

/** Classes up to which the report carries the confusion matrix and per-class statistics. */
export const CONFUSION_MAX_CLASSES = 20;
/** Most-confused pairs listed (also for small models, where the matrix holds them too). */
const TOP_PAIRS = 10;

export interface EvaluateOptions {
  /** Only the first N images of the dataset. */
  limit?: number;
  /** Images per forward pass (default 64: a batch of 224×224 inputs stays small). */
  batchSize?: number;
  /** Keep at most this many misclassified images (default all). */
  maxMisclassified?: number;
}

export interface ConfusedPair {
  /** True class, predicted class, and how often. */
  label: number;
  predicted: number;
  count: number;
  labelName: string;
  predictedName: string;
}

export interface EvaluateReport {
  /** The model source as given. */
  model: string;
  /** Same as model: kept for readers of earlier reports (the lab, scripts). */
  run: string;
  dataset: string;
  /** What was evaluated, e.g. "test", "held-out validation, split from the test set", "image folder". */
  set: string;
  /** One line: the dataset's description. */
  description: string;
  classNames: string[];
  count: number;
  /** Top-1 accuracy. */
  accuracy: number;
  /** Label among the k = min(5, classes) highest scores. */
  top5: number;
  topK: number;
  /** Mean cross-entropy of the true class (from the logits where the model has them). */
  loss: number;
  macroF1: number;
  /** Rows = true class, columns = predicted; only for ≤ CONFUSION_MAX_CLASSES classes (1000² is noise). */
  confusion?: number[][];
  /** Per class (all classes; the CLI prints them for ≤ CONFUSION_MAX_CLASSES). */
  perClass: ClassStats[];
  /** Off-diagonal confusion cells, largest first (top 10). */
  confusedPairs: ConfusedPair[];
  /** Dataset indices (index) of the misclassified images, in dataset order. */
  misclassified: Misclassified[];
  /** Unreadable images left out (--on-corrupt skip). */
  skipped: number;
}

/** Evaluates `model` on the labelled `data` (model class indices), reporting progress in images. */
export async function evaluate(
  model: OpenedModel,
  data: OpenedDataset,
  o: EvaluateOptions = {},
  hooks: JobHooks = {},
): Promise<EvaluateReport> {
  if (!data.labelled)
    throw new Error(
      `${data.name}: has no labels (no class folders or labels CSV); evaluate needs labelled images`,
    );
  const k = model.numClasses;
  const topK = Math.min(5, k);
  const n = Math.min(data.count, o.limit ?? data.count);
  if (n === 0) throw new Error(`${data.name}: no images to evaluate`);
  const batchSize = o.batchSize ?? 64;
  const maxMis = o.maxMisclassified ?? Number.POSITIVE_INFINITY;
  // Dense counts even for 1000 classes (4 MB); only the report decides what to show.
  const confusion = new Uint32Array(k * k);
  const misclassified: Misclassified[] = [];
  let count = 0;
  let inTopK = 0;
  let lossSum = 0;
  hooks.log?.(`evaluating ${model.source} on ${data.description}`);
  const CHUNK = 256;
  for (let start = 0; start < n; start += CHUNK) {
    checkStop(hooks, 'evaluate');
    const end = Math.min(n, start + CHUNK);
    const chunk = await data.read(Uint32Array.from({ length: end - start }, (_, i) => start + i));
    const batches = batchIterator(chunk.set, undefined, batchSize, { preprocess: model.preprocess });
    for await (const p of predictBatches(model.model, batches)) {
      for (let i = 0; i < p.size; i++) {
        const label = p.labels![i];
        const predicted = argMaxRow(p.probs, i, k);
        confusion[label * k + predicted]++;
        lossSum += p.losses![i];
        // Rank of the label: classes scoring strictly higher (ties count for the label, as argmax's first).
        const score = p.probs[i * k + label];
        let above = 0;
        for (let j = 0; j < k && above < topK; j++) if (p.probs[i * k + j] > score) above++;
        if (above < topK) inTopK++;
        if (predicted !== label && misclassified.length < maxMis)
          misclassified.push({
            index: chunk.indices[p.offset + i],
            label,
            predicted,
            confidence: p.probs[i * k + predicted],
          });
      }
      count += p.size;
    }
    hooks.onProgress?.(end, n);
  }
  if (count === 0) throw new Error(`${data.name}: no readable images to evaluate`);
  const rows = Array.from({ length: k }, (_, r) => Array.from(confusion.subarray(r * k, (r + 1) * k)));
  const stats = confusionStats(rows);
  const small = k <= CONFUSION_MAX_CLASSES;
  return {
    model: model.source,
    run: model.source,
    dataset: data.name,
    set: setName(data),
    description: data.description,
    classNames: model.classNames,
    count,
    accuracy: stats.accuracy,
    top5: inTopK / count,
    topK,
    loss: lossSum / count,
    macroF1: stats.macroF1,
    ...(small ? { confusion: rows } : {}),
    perClass: stats.perClass,
    confusedPairs: confusedPairs(confusion, k, model.classNames),
    misclassified,
    skipped: data.skipped.length,
  };
}

export interface EvaluateSourceOptions extends EvaluateOptions {
  /** Any model source openModel accepts. */
  model: string;
  /** Any dataset openDataset accepts (default: a run's held-out data). */
  dataset?: string;
  openModel?: OpenModelOptions;
  openDataset?: OpenDatasetOptions;
}

/** Opens the model and dataset, evaluates, and frees the model: for callers holding only paths (the lab). */
export async function evaluateSource(
  o: EvaluateSourceOptions,
  hooks: JobHooks = {},
): Promise<EvaluateReport> {
  const model = await openModel(o.model, { log: hooks.log, ...o.openModel });
  try {
    const data = await openDataset(o.dataset, model, { log: hooks.log, ...o.openDataset });
    return await evaluate(model, data, o, hooks);
  } finally {
    model.dispose();
  }
}

function setName(data: OpenedDataset): string {
  if (data.kind === 'image-folder') return 'image folder';
  if (/held-out validation split/.test(data.description))
    return 'held-out validation, split from the test set';
  return /\btrain split \(/.test(data.description) ? 'train' : 'test';
}

/** The largest off-diagonal cells, most confusions first (ties: lower true class, then predicted). */
export function confusedPairs(confusion: Uint32Array, k: number, names: string[]): ConfusedPair[] {
  const cells: number[] = [];
  for (let i = 0; i < confusion.length; i++)
    if (confusion[i] > 0 && Math.floor(i / k) !== i % k) cells.push(i);
  cells.sort((a, b) => confusion[b] - confusion[a] || a - b);
  return cells.slice(0, TOP_PAIRS).map((i) => {
    const label = Math.floor(i / k);
    const predicted = i % k;
    return {
      label,
      predicted,
      count: confusion[i],
      labelName: names[label],
      predictedName: names[predicted],
    };
  });
}
