import * as tf from '@tensorflow/tfjs';
import type { LabelArray } from '../data/types.ts';
import { inferenceTwin } from '../models/inference-twin.ts';
import { scoreHead } from '../models/logits.ts';
import {
  type Batches,
  checkBatch,
  imagesTensor,
  modelInputShape,
  modelNumClasses,
} from '../train/batch-source.ts';

/** A batch to predict; labels are optional. */
export interface InputBatch {
  x: Float32Array;
  size: number;
  y?: LabelArray;
}

export interface BatchPrediction {
  /** Position of the batch's first example in the stream (sum of earlier sizes). */
  offset: number;
  size: number;
  numClasses: number;
  /** size×numClasses softmax probabilities, row-major. */
  probs: Float32Array;
  /** The batch's labels (first `size`), when it had them. */
  labels?: LabelArray;
  /**
   * Per-example cross-entropy −ln p(label), when labelled. From the logits via a float64 log-softmax
   * when the model has a `logits` layer (no underflow for confident mistakes); otherwise from the
   * probabilities clipped at 1e-7, as Keras does.
   */
  losses?: Float32Array;
}

const EPS = 1e-7;

/**
 * Runs the model in inference mode (dropout off, batch-norm moving statistics) over a stream of
 * batches, yielding probabilities per batch. Holds no tensors between batches.
 */
export async function* predictBatches(
  model: tf.LayersModel,
  batches: Batches<InputBatch>,
): AsyncGenerator<BatchPrediction> {
  const head = scoreHead(model);
  // conv + batch norm + relu chains folded (the scores are the same to float rounding).
  const net = inferenceTwin(head.net);
  const shape = modelInputShape(model);
  const k = modelNumClasses(model);
  let offset = 0;
  let index = 0;
  for await (const batch of batches) {
    const labelled = batch.y !== undefined;
    checkBatch(batch as Required<InputBatch>, shape, k, `prediction batch ${index + 1}`, labelled);
    const out = tf.tidy(() => net.apply(imagesTensor(batch, shape), { training: false }) as tf.Tensor);
    const scores = (await out.data()) as Float32Array;
    out.dispose();
    const labels = labelled ? batch.y!.slice(0, batch.size) : undefined;
    const { probs, losses } =
      head.kind === 'logits' ? fromLogits(scores, k, labels) : fromProbs(scores, k, labels);
    yield { offset, size: batch.size, numClasses: k, probs, labels, losses };
    offset += batch.size;
    index++;
  }
}

function fromLogits(logits: Float32Array, k: number, labels?: LabelArray) {
  const n = logits.length / k;
  const probs = new Float32Array(logits.length);
  const losses = labels ? new Float32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const row = i * k;
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[row + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[row + j] - max);
    const logSum = max + Math.log(sum);
    for (let j = 0; j < k; j++) probs[row + j] = Math.exp(logits[row + j] - logSum);
    if (losses && labels) losses[i] = logSum - logits[row + labels[i]];
  }
  return { probs, losses };
}

function fromProbs(probs: Float32Array, k: number, labels?: LabelArray) {
  const n = probs.length / k;
  const losses = labels ? new Float32Array(n) : undefined;
  if (losses && labels) {
    for (let i = 0; i < n; i++)
      losses[i] = -Math.log(Math.min(Math.max(probs[i * k + labels[i]], EPS), 1 - EPS));
  }
  return { probs, losses };
}
