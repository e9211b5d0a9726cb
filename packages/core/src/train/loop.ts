import * as tf from '@tensorflow/tfjs';
import { lossAndAccuracy } from '../eval/metrics.ts';
import { scoreHead } from '../models/logits.ts';
import {
  type Batch,
  type BatchSource,
  checkBatch,
  type InputShape,
  imagesTensor,
  labelsTensor,
  modelInputShape,
  modelNumClasses,
} from './batch-source.ts';
import { dropoutLayers, withDropoutSeeds } from './dropout-seed.ts';
import { type EarlyStopping, type EpochRecord, type History, replayEarlyStopping } from './history.ts';
import { learningRateOf } from './optimizers.ts';
import { yieldToEventLoop } from './yield.ts';

export interface BatchInfo {
  /** 1-based epoch being trained. */
  epoch: number;
  /** 0-based batch index within the epoch. */
  batch: number;
  size: number;
  /** This batch's mean loss and accuracy (training mode: dropout on). */
  loss: number;
  acc: number;
  /** Running means over the epoch so far. */
  epochLoss: number;
  epochAcc: number;
  /** Examples seen this epoch, including this batch. */
  images: number;
  /** Seconds since the epoch started. */
  seconds: number;
  imagesPerSecond: number;
}

export interface TrainState {
  /** History so far, this epoch's record included: what history.json should hold now. */
  history: History;
  /** Epochs since validation loss last improved by minDelta (early stopping's counter). */
  wait: number;
  /** True when no epoch follows (the last epoch, or early stopping fired). */
  last: boolean;
}

export interface TrainOptions {
  optimizer: tf.Optimizer;
  /** Total epochs to reach, counting earlier ones (Keras's `epochs` with `initial_epoch`). */
  epochs: number;
  /**
   * Epochs already completed: 0 for a fresh run; on resume, the last checkpoint's record.epoch.
   * Defaults to the last of `previousRecords`, else 0.
   */
  startEpoch?: number;
  /** Called with the 0-based epoch index (record.epoch − 1): seed its shuffle with it. */
  trainBatches: BatchSource;
  valBatches?: BatchSource;
  /** Checked against the model's input when given. */
  inputShape?: InputShape;
  /** Checked against the model's output when given. */
  numClasses?: number;
  /** Stop when validation loss has not improved by minDelta for `patience` epochs. Needs valBatches. */
  earlyStopping?: EarlyStopping;
  /** Records of earlier epochs (resume): carried into the history; early stopping's state is replayed from them. */
  previousRecords?: EpochRecord[];
  onBatchEnd?(info: BatchInfo): void | Promise<void>;
  /** After each completed epoch (and validation): write history and checkpoint here. Awaited. */
  onEpochEnd?(record: EpochRecord, state: TrainState): void | Promise<void>;
  /** Polled after every batch and before each epoch (e.g. set by a SIGINT handler). */
  shouldStop?(): boolean;
  /** Seeds dropout masks per (epoch, batch): the same seed draws the same masks. Omitted: Math.random. */
  seed?: number;
}

/**
 * Trains with a hand-written step (not model.fit) so the caller controls batching, checkpoints and
 * progress: per batch, optimizer.minimize over the softmax cross-entropy of the `logits` output,
 * computed in training mode (dropout active, batch norm on batch statistics). A model without a
 * `logits` layer is trained on its probabilities (clipped log, as Keras).
 *
 * Ctrl-C: when shouldStop() turns true mid-epoch, the loop returns after the current batch with
 * stopReason 'interrupted'; that partial epoch gets no record and no onEpochEnd, so the last
 * checkpoint stays the resume point (the model's weights have moved past it).
 */
export async function trainModel(model: tf.LayersModel, options: TrainOptions): Promise<History> {
  const shape = modelInputShape(model);
  const numClasses = modelNumClasses(model);
  if (options.inputShape && options.inputShape.join() !== shape.join()) {
    throw new Error(`inputShape [${options.inputShape}] does not match the model's input [${shape}]`);
  }
  if (options.numClasses !== undefined && options.numClasses !== numClasses) {
    throw new Error(`numClasses ${options.numClasses} does not match the model's ${numClasses} outputs`);
  }
  const { optimizer, epochs, earlyStopping, shouldStop } = options;
  const previous = options.previousRecords ?? [];
  const startEpoch = options.startEpoch ?? previous.at(-1)?.epoch ?? 0;
  if (!(Number.isInteger(epochs) && epochs >= 0))
    throw new Error(`epochs must be a non-negative integer, got ${epochs}`);
  if (!(Number.isInteger(startEpoch) && startEpoch >= 0)) {
    throw new Error(`startEpoch must be a non-negative integer, got ${startEpoch}`);
  }
  if (earlyStopping) {
    if (!options.valBatches) throw new Error('early stopping monitors validation loss: give valBatches');
    if (!(Number.isInteger(earlyStopping.patience) && earlyStopping.patience >= 1)) {
      throw new Error(`early stopping patience must be an integer >= 1, got ${earlyStopping.patience}`);
    }
  }

  const head = scoreHead(model);
  const vars = head.net.trainableWeights.map((w) => w.read() as tf.Variable);
  const dropouts = options.seed === undefined ? [] : dropoutLayers(head.net);
  const records = previous.filter((r) => r.epoch <= startEpoch);
  const es = replayEarlyStopping(records, earlyStopping);
  const history: History = {
    records,
    epochs,
    startEpoch,
    stopReason: 'completed',
    lossFrom: head.kind,
    ...(earlyStopping
      ? { earlyStopping: { patience: earlyStopping.patience, minDelta: earlyStopping.minDelta ?? 0 } }
      : {}),
    ...bestOf(es),
  };
  if (earlyStopping && es.wait >= earlyStopping.patience) {
    history.stopReason = 'early-stopping';
    return history;
  }

  for (let e = startEpoch; e < epochs; e++) {
    if (shouldStop?.()) {
      // Stopped between epochs: the next epoch is the one interrupted, before its first batch.
      history.stopReason = 'interrupted';
      history.interrupted = { epoch: e + 1, batches: 0, images: 0 };
      break;
    }
    const epoch = e + 1;
    const t0 = performance.now();
    let images = 0;
    let lossSum = 0;
    let correct = 0;
    let batchIndex = 0;
    let interrupted = false;
    for await (const batch of options.trainBatches(e)) {
      checkBatch(batch, shape, numClasses, `epoch ${epoch}, training batch ${batchIndex + 1}`);
      const step = withDropoutSeeds(dropouts, options.seed ?? 0, e, batchIndex, () =>
        trainStep(head.net, head.kind, optimizer, vars, batch, shape, numClasses),
      );
      const [loss, hits] = await Promise.all([step.loss.data(), step.correct.data()]);
      step.loss.dispose();
      step.correct.dispose();
      if (!Number.isFinite(loss[0])) {
        throw new Error(
          `epoch ${epoch}, batch ${batchIndex + 1}: loss is ${loss[0]} (learning rate too high?)`,
        );
      }
      images += batch.size;
      lossSum += loss[0] * batch.size;
      correct += hits[0];
      const seconds = (performance.now() - t0) / 1000;
      await options.onBatchEnd?.({
        epoch,
        batch: batchIndex,
        size: batch.size,
        loss: loss[0],
        acc: hits[0] / batch.size,
        epochLoss: lossSum / images,
        epochAcc: correct / images,
        images,
        seconds,
        imagesPerSecond: images / seconds,
      });
      batchIndex++;
      await yieldToEventLoop();
      if (shouldStop?.()) {
        interrupted = true;
        break;
      }
    }
    if (interrupted) {
      history.stopReason = 'interrupted';
      history.interrupted = { epoch, batches: batchIndex, images };
      break;
    }
    if (images === 0) throw new Error(`epoch ${epoch}: the training batch source yielded no batches`);
    const trainSeconds = (performance.now() - t0) / 1000;
    const record: EpochRecord = {
      epoch,
      loss: lossSum / images,
      acc: correct / images,
      seconds: 0,
      trainSeconds,
      imagesPerSecond: images / trainSeconds,
      images,
      lr: learningRateOf(optimizer),
    };
    if (options.valBatches) {
      const val = await lossAndAccuracy(model, options.valBatches(e));
      record.valLoss = val.loss;
      record.valAcc = val.accuracy;
    }
    record.seconds = (performance.now() - t0) / 1000;

    let last = epoch >= epochs;
    if (earlyStopping) {
      es.update(record);
      if (es.wait >= earlyStopping.patience) {
        last = true;
        history.stopReason = 'early-stopping';
        record.note =
          `early stopping: validation loss has not improved by ${earlyStopping.minDelta ?? 0} for ` +
          `${es.wait} epochs (best ${es.bestValLoss} at epoch ${es.bestEpoch}); weights are this epoch's, not the best epoch's`;
      }
    }
    records.push(record);
    Object.assign(history, bestOf(es));
    await options.onEpochEnd?.(record, { history, wait: es.wait, last });
    if (last) break;
  }
  return history;
}

/** One optimizer step; returns the batch's mean loss and its number of correct predictions (caller disposes). */
function trainStep(
  net: tf.LayersModel,
  kind: 'logits' | 'probs',
  optimizer: tf.Optimizer,
  vars: tf.Variable[],
  batch: Batch,
  shape: InputShape,
  numClasses: number,
): { loss: tf.Scalar; correct: tf.Scalar } {
  let correct: tf.Scalar | undefined;
  const loss = tf.tidy(() => {
    const x = imagesTensor(batch, shape);
    const labels = labelsTensor(batch);
    const onehot = tf.oneHot(labels, numClasses);
    return optimizer.minimize(
      () => {
        const out = net.apply(x, { training: true }) as tf.Tensor2D;
        // Kept past the gradient tape's tidy; it is not on the loss's gradient path.
        correct = tf.keep(
          tf.sum<tf.Tensor>(tf.cast(tf.equal(tf.argMax(out, 1), labels), 'float32')) as tf.Scalar,
        );
        return crossEntropy(onehot, out, kind);
      },
      true,
      vars,
    ) as tf.Scalar;
  });
  return { loss, correct: correct! };
}

/** Mean categorical cross-entropy; from logits via tfjs's stable log-sum-exp form. */
function crossEntropy(onehot: tf.Tensor, out: tf.Tensor2D, kind: 'logits' | 'probs'): tf.Scalar {
  if (kind === 'logits') return tf.losses.softmaxCrossEntropy(onehot, out) as tf.Scalar;
  const p = tf.clipByValue(out, 1e-7, 1 - 1e-7);
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.log(p)), -1))) as tf.Scalar;
}

function bestOf(es: {
  bestEpoch?: number;
  bestValLoss?: number;
}): Pick<History, 'bestEpoch' | 'bestValLoss'> {
  return es.bestEpoch === undefined ? {} : { bestEpoch: es.bestEpoch, bestValLoss: es.bestValLoss };
}
