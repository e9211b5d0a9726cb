import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateModel, lossAndAccuracy } from '../src/eval/metrics.ts';
import { buildModel } from '../src/models/build.ts';
import type { Batch } from '../src/train/batch-source.ts';
import type { EpochRecord } from '../src/train/history.ts';
import { type BatchInfo, type TrainState, trainModel } from '../src/train/loop.ts';
import { makeOptimizer } from '../src/train/optimizers.ts';
import { batchesOf, quadrants, TINY_BN_SPEC, TINY_SPEC } from './helpers/quadrants.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const train = quadrants(384, 21, 8);
const val = quadrants(128, 22, 8);
const shape: [number, number, number] = [8, 8, 1];
const disposables: { dispose(): void }[] = [];
const tiny = (seed = 1, spec = TINY_SPEC) => {
  const m = buildModel(spec, { inputShape: shape, numClasses: 4, seed });
  disposables.push(m);
  return m;
};
const adam = (learningRate = 0.01) => {
  const o = makeOptimizer({ name: 'adam', learningRate });
  disposables.push(o);
  return o;
};
afterAll(() => {
  for (const d of disposables) d.dispose();
});

describe('trainModel', () => {
  it('learns far above chance and reports each batch and epoch', async () => {
    const model = tiny(1, TINY_BN_SPEC);
    const batches: BatchInfo[] = [];
    const epochs: [EpochRecord, TrainState][] = [];
    const seen: number[] = [];
    const history = await trainModel(model, {
      optimizer: adam(),
      epochs: 4,
      inputShape: shape,
      numClasses: 4,
      trainBatches: (e) => {
        seen.push(e);
        return batchesOf(train, 32, 1)(e);
      },
      valBatches: batchesOf(val, 64),
      onBatchEnd: (info) => {
        batches.push(info);
      },
      onEpochEnd: async (record, state) => {
        await new Promise((r) => setTimeout(r, 1)); // awaited before the next epoch
        epochs.push([record, { ...state, history: structuredClone(state.history) }]);
      },
    });
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(history.stopReason).toBe('completed');
    expect(history.lossFrom).toBe('logits');
    expect(history.records.map((r) => r.epoch)).toEqual([1, 2, 3, 4]);
    const last = history.records[3];
    expect(last.valAcc).toBeGreaterThan(0.9); // chance is 0.25
    // Training accuracy is measured with dropout on (unseeded in tfjs): 0.797–0.9 across runs.
    expect(last.acc).toBeGreaterThan(0.7);
    expect(last.loss).toBeLessThan(history.records[0].loss);
    for (const r of history.records) {
      expect(r).toMatchObject({ images: 384, lr: 0.01 });
      expect(r.seconds).toBeGreaterThanOrEqual(r.trainSeconds);
      expect(r.imagesPerSecond).toBeGreaterThan(0);
      expect(r.valLoss).toBeTypeOf('number');
    }
    expect(batches).toHaveLength(4 * 12);
    expect(batches[11]).toMatchObject({ epoch: 1, batch: 11, size: 32, images: 384 });
    expect(batches[11].epochLoss).toBeCloseTo(history.records[0].loss, 5);
    expect(epochs.map(([r, s]) => [r.epoch, s.last, s.history.records.length])).toEqual([
      [1, false, 1],
      [2, false, 2],
      [3, false, 3],
      [4, true, 4],
    ]);
    // The validation numbers are inference-mode evaluation of the final weights.
    const ev = await evaluateModel(model, batchesOf(val, 50)(0), 4);
    expect(ev.loss).toBeCloseTo(last.valLoss!, 4);
    expect(ev.accuracy).toBeCloseTo(last.valAcc!, 6);
  });

  it('trains in training mode: batch-norm moving statistics move', async () => {
    const model = tiny(2, TINY_BN_SPEC);
    const before = Array.from(model.getLayer('bn1').getWeights()[2].dataSync()); // moving mean
    await trainModel(model, { optimizer: adam(), epochs: 1, trainBatches: batchesOf(train, 64) });
    const after = Array.from(model.getLayer('bn1').getWeights()[2].dataSync());
    expect(after).not.toEqual(before);
  });

  it('accepts async batch sources', async () => {
    const model = tiny(3);
    async function* source(e: number): AsyncGenerator<Batch> {
      yield* batchesOf(train, 64)(e);
    }
    const history = await trainModel(model, {
      optimizer: adam(),
      epochs: 2,
      trainBatches: source,
      valBatches: source,
    });
    expect(history.records).toHaveLength(2);
    expect(history.records[1].valAcc).toBeGreaterThan(0.5);
  });

  it('stops early when validation loss stops improving, restoring nothing', async () => {
    const model = tiny(4);
    const ends: boolean[] = [];
    const history = await trainModel(model, {
      optimizer: adam(),
      epochs: 10,
      trainBatches: batchesOf(train, 64),
      valBatches: batchesOf(val, 64),
      // No decrease can reach minDelta: epoch 1 sets the best, epochs 2 and 3 do not improve.
      earlyStopping: { patience: 2, minDelta: 100 },
      onEpochEnd: (_r, s) => {
        ends.push(s.last);
      },
    });
    expect(history.stopReason).toBe('early-stopping');
    expect(history.records).toHaveLength(3);
    expect(ends).toEqual([false, false, true]);
    expect(history).toMatchObject({ bestEpoch: 1, earlyStopping: { patience: 2, minDelta: 100 } });
    expect(history.records[2].note).toMatch(/early stopping.*not the best epoch/);
    expect(history.records[1].note).toBeUndefined();
  });

  it('resumes: continues epoch numbering and the early-stopping count', async () => {
    const model = tiny(5);
    const seen: number[] = [];
    const rec = (epoch: number, valLoss: number): EpochRecord => ({
      epoch,
      loss: 1,
      acc: 0.5,
      valLoss,
      valAcc: 0.5,
      seconds: 1,
      trainSeconds: 1,
      imagesPerSecond: 1,
      images: 1,
      lr: 0.01,
    });
    const history = await trainModel(model, {
      optimizer: adam(),
      epochs: 6,
      previousRecords: [rec(1, 0.5), rec(2, 0.6)],
      trainBatches: (e) => {
        seen.push(e);
        return batchesOf(train, 128)(e);
      },
      valBatches: batchesOf(val, 128),
      earlyStopping: { patience: 2, minDelta: 100 },
    });
    // Epoch 2 was the first non-improving one, so one more epoch (3) exhausts the patience.
    expect(seen).toEqual([2]);
    expect(history.records.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(history).toMatchObject({ startEpoch: 2, stopReason: 'early-stopping', bestEpoch: 1 });
  });

  it('resumed from saved weights and optimizer state, matches an uninterrupted run', async () => {
    const spec = { ...TINY_BN_SPEC, layers: TINY_BN_SPEC.layers.filter((l) => l.type !== 'dropout') };
    const options = (optimizer: tf.Optimizer) => ({
      optimizer,
      epochs: 4,
      trainBatches: batchesOf(train, 64, 3), // shuffled per epoch index
      valBatches: batchesOf(val, 64),
    });
    const whole = await trainModel(tiny(9, spec), options(adam()));

    // A run killed after epoch 2: what a checkpoint holds is the weights, the optimizer's state and the records.
    const first = tiny(9, spec);
    const opt1 = adam();
    const part = await trainModel(first, { ...options(opt1), epochs: 2 });
    const weights = first.getWeights().map((w) => w.clone());
    const slots = (await opt1.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));

    const second = tiny(1234, spec); // different initial weights, overwritten below
    second.setWeights(weights);
    const opt2 = adam();
    await opt2.setWeights(slots);
    const resumed = await trainModel(second, { ...options(opt2), previousRecords: part.records });
    for (const t of [...weights, ...slots.map((w) => w.tensor)]) t.dispose();

    expect(resumed.records.map((r) => r.epoch)).toEqual([1, 2, 3, 4]);
    for (const [i, r] of resumed.records.entries()) {
      expect(r.loss).toBeCloseTo(whole.records[i].loss, 4);
      expect(r.valLoss!).toBeCloseTo(whole.records[i].valLoss!, 4);
    }
  });

  it('stops cleanly when asked (Ctrl-C) without recording the partial epoch', async () => {
    const model = tiny(6);
    let n = 0;
    let epochEnds = 0;
    const history = await trainModel(model, {
      optimizer: adam(),
      epochs: 3,
      trainBatches: batchesOf(train, 32),
      onBatchEnd: () => {
        n++;
      },
      onEpochEnd: () => {
        epochEnds++;
      },
      shouldStop: () => n >= 15,
    });
    expect(history.stopReason).toBe('interrupted');
    expect(history.interrupted).toEqual({ epoch: 2, batches: 3, images: 96 });
    expect(history.records).toHaveLength(1);
    expect(epochEnds).toBe(1);
  });

  it('trains a model without a logits layer on its probabilities', async () => {
    // A sigmoid output is not a softmax: no logits to find, so the loss is taken from the outputs.
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: shape }),
        tf.layers.dense({ units: 4, activation: 'sigmoid' }),
      ],
    });
    disposables.push(model);
    const history = await trainModel(model, {
      optimizer: adam(0.05),
      epochs: 3,
      trainBatches: batchesOf(train, 64),
    });
    expect(history.lossFrom).toBe('probs');
    expect(history.records[2].loss).toBeLessThan(history.records[0].loss);
  });

  it('trains a Dense-softmax model through its logits (the fused softmax bypassed, weights shared)', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: shape }),
        tf.layers.dense({ units: 4, activation: 'softmax' }),
      ],
    });
    disposables.push(model);
    const before = model.layers[1].getWeights()[0].arraySync();
    const history = await trainModel(model, {
      optimizer: adam(0.05),
      epochs: 3,
      trainBatches: batchesOf(train, 64),
    });
    expect(history.lossFrom).toBe('logits');
    expect(history.records[2].loss).toBeLessThan(history.records[0].loss);
    expect(model.layers[1].getWeights()[0].arraySync()).not.toEqual(before);
  });

  it('rejects mismatched shapes, bad batches and bad options with clear messages', async () => {
    const model = tiny(7);
    const base = { optimizer: adam(), epochs: 1, trainBatches: batchesOf(train, 64) };
    await expect(trainModel(model, { ...base, inputShape: [28, 28, 1] })).rejects.toThrow(
      "inputShape [28,28,1] does not match the model's input [8,8,1]",
    );
    await expect(trainModel(model, { ...base, numClasses: 10 })).rejects.toThrow(/numClasses 10/);
    await expect(trainModel(model, { ...base, earlyStopping: { patience: 2 } })).rejects.toThrow(
      /give valBatches/,
    );
    await expect(trainModel(model, { ...base, trainBatches: () => [] })).rejects.toThrow(
      /yielded no batches/,
    );
    const short = () => [{ x: new Float32Array(10), y: new Uint8Array(2), size: 2 }];
    await expect(trainModel(model, { ...base, trainBatches: short })).rejects.toThrow(
      'epoch 1, training batch 1: x has 10 values, expected size×H×W×C = 2×8×8×1 = 128',
    );
    const badLabel = () => [{ x: new Float32Array(64), y: new Uint8Array([9]), size: 1 }];
    await expect(trainModel(model, { ...base, trainBatches: badLabel })).rejects.toThrow(/label 9/);
    const diverge = makeOptimizer({ name: 'sgd', learningRate: 1e30 });
    disposables.push(diverge);
    await expect(trainModel(model, { ...base, optimizer: diverge })).rejects.toThrow(
      /loss is (NaN|Infinity)/,
    );
  });

  it('does not leak tensors across repeated calls', async () => {
    const model = tiny(8, TINY_BN_SPEC);
    const optimizer = adam();
    const run = () =>
      trainModel(model, {
        optimizer,
        epochs: 2,
        trainBatches: batchesOf(train, 128),
        valBatches: batchesOf(val, 64),
        earlyStopping: { patience: 3 },
      });
    await run(); // creates the optimizer's slots and the cached logits model
    await run();
    const after2 = tf.memory().numTensors;
    await run();
    expect(tf.memory().numTensors).toBe(after2);
    await evaluateModel(model, batchesOf(val, 64)(0), 4);
    await lossAndAccuracy(model, batchesOf(val, 64)(0));
    expect(tf.memory().numTensors).toBe(after2);
  });
});
