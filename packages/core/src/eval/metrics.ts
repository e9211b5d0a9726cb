import type * as tf from '@tensorflow/tfjs';
import type { Batch, Batches } from '../train/batch-source.ts';
import { type ClassStats, confusionStats } from './confusion.ts';
import { predictBatches } from './predict.ts';

export { type ClassStats, type ConfusionStats, confusionStats } from './confusion.ts';
export { type BatchPrediction, type InputBatch, predictBatches } from './predict.ts';

export interface Misclassified {
  /** Position in the batch stream (0-based), i.e. the example's index in the evaluated set. */
  index: number;
  label: number;
  predicted: number;
  /** Probability the model gave its (wrong) prediction. */
  confidence: number;
}

export interface Evaluation {
  count: number;
  accuracy: number;
  /** Mean cross-entropy. */
  loss: number;
  /** numClasses × numClasses counts; rows = true class, columns = predicted class. */
  confusion: number[][];
  perClass: ClassStats[];
  macroF1: number;
  /** In stream order; at most `maxMisclassified`. */
  misclassified: Misclassified[];
}

export interface EvaluateOptions {
  /** Keep at most this many misclassified examples (the first ones); default all. */
  maxMisclassified?: number;
}

/**
 * Evaluates a model over labelled batches in inference mode, streaming: only counts and the
 * misclassified list are kept. `numClasses` must match the model's output.
 */
export async function evaluateModel(
  model: tf.LayersModel,
  batches: Batches<Batch>,
  numClasses: number,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const maxMis = options.maxMisclassified ?? Number.POSITIVE_INFINITY;
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const misclassified: Misclassified[] = [];
  let count = 0;
  let lossSum = 0;
  for await (const p of predictBatches(model, batches)) {
    if (p.numClasses !== numClasses) {
      throw new Error(`model outputs ${p.numClasses} classes but numClasses is ${numClasses}`);
    }
    const { probs, labels, losses } = p;
    for (let i = 0; i < p.size; i++) {
      const predicted = argMaxRow(probs, i, numClasses);
      const label = labels![i];
      confusion[label][predicted]++;
      lossSum += losses![i];
      if (predicted !== label && misclassified.length < maxMis) {
        misclassified.push({
          index: p.offset + i,
          label,
          predicted,
          confidence: probs[i * numClasses + predicted],
        });
      }
    }
    count += p.size;
  }
  if (count === 0) throw new Error('evaluation got no examples');
  const stats = confusionStats(confusion);
  return {
    count,
    accuracy: stats.accuracy,
    loss: lossSum / count,
    confusion,
    perClass: stats.perClass,
    macroF1: stats.macroF1,
    misclassified,
  };
}

/** Mean loss and accuracy only: what validation needs each epoch. */
export async function lossAndAccuracy(
  model: tf.LayersModel,
  batches: Batches<Batch>,
): Promise<{ loss: number; accuracy: number; count: number }> {
  let count = 0;
  let lossSum = 0;
  let correct = 0;
  for await (const p of predictBatches(model, batches)) {
    for (let i = 0; i < p.size; i++) {
      if (argMaxRow(p.probs, i, p.numClasses) === p.labels![i]) correct++;
      lossSum += p.losses![i];
    }
    count += p.size;
  }
  if (count === 0) throw new Error('evaluation got no examples');
  return { loss: lossSum / count, accuracy: correct / count, count };
}

/** Index of the largest entry of row i (first one on ties, as tf.argMax). */
export function argMaxRow(values: Float32Array, i: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (values[i * k + j] > values[i * k + best]) best = j;
  return best;
}
