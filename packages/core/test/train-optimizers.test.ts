import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lossAndAccuracy } from '../src/eval/metrics.ts';
import { buildModel } from '../src/models/build.ts';
import { trainModel } from '../src/train/loop.ts';
import { makeOptimizer, type OptimizerOptions, resolveOptimizer } from '../src/train/optimizers.ts';
import { batchesOf, quadrants, TINY_SPEC } from './helpers/quadrants.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('makeOptimizer', () => {
  it('fills in Keras defaults', () => {
    expect(resolveOptimizer({ name: 'adam' })).toEqual({
      name: 'adam',
      learningRate: 0.001,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-7,
    });
    expect(resolveOptimizer({ name: 'SGD', beta1: 0.5 })).toEqual({
      name: 'sgd',
      learningRate: 0.01,
      momentum: 0,
      nesterov: false,
    });
    expect(resolveOptimizer({ name: 'rmsprop', learningRate: 0.01 })).toMatchObject({
      learningRate: 0.01,
      rho: 0.9,
    });
    expect(resolveOptimizer({ name: 'adadelta' })).toMatchObject({ learningRate: 1, rho: 0.95 });
  });

  it('makes the matching tfjs optimizer', () => {
    expect(makeOptimizer({ name: 'sgd' }).getClassName()).toBe('SGD');
    const nesterov = makeOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true });
    expect(nesterov.getClassName()).toBe('Momentum');
    expect(nesterov.getConfig()).toMatchObject({ learningRate: 0.01, momentum: 0.9, useNesterov: true });
    expect(makeOptimizer({ name: 'rmsprop' }).getConfig()).toMatchObject({ decay: 0.9, epsilon: 1e-7 });
    expect(makeOptimizer({ name: 'adadelta' }).getClassName()).toBe('Adadelta');
    expect(makeOptimizer({ name: 'adam', beta2: 0.99 }).getConfig()).toMatchObject({ beta2: 0.99 });
  });

  it('rejects unknown names, listing the valid ones, and bad values', () => {
    expect(() => makeOptimizer({ name: 'lbfgs' })).toThrow(
      "unknown optimizer 'lbfgs' (valid: sgd, rmsprop, adadelta, adam)",
    );
    expect(() => makeOptimizer({ name: 'adam', learningRate: 0 })).toThrow(/learning rate must be > 0/);
    expect(() => makeOptimizer({ name: 'adam', learningRate: Number.NaN })).toThrow(/learning rate/);
    expect(() => makeOptimizer({ name: 'sgd', momentum: 1.5 })).toThrow(/momentum/);
    expect(() => makeOptimizer({ name: 'sgd', nesterov: true })).toThrow(/nesterov needs momentum/);
    expect(() => makeOptimizer({ name: 'adam', nesterov: true })).toThrow(/sgd only/);
  });
});

describe('every optimizer reduces the loss on a learnable problem', () => {
  const train = quadrants(128, 11, 8);
  const cases: OptimizerOptions[] = [
    { name: 'sgd', learningRate: 0.1 },
    { name: 'sgd', learningRate: 0.05, momentum: 0.9 },
    { name: 'sgd', learningRate: 0.05, momentum: 0.9, nesterov: true },
    { name: 'rmsprop', learningRate: 0.01 },
    { name: 'adadelta' },
    { name: 'adam', learningRate: 0.01 },
  ];
  it.each(cases)('$name %o', async (options) => {
    const model = buildModel(TINY_SPEC, { inputShape: [8, 8, 1], numClasses: 4, seed: 5 });
    const before = await lossAndAccuracy(model, batchesOf(train, 64)(0));
    const optimizer = makeOptimizer(options);
    const history = await trainModel(model, { optimizer, epochs: 4, trainBatches: batchesOf(train, 16, 1) });
    const after = await lossAndAccuracy(model, batchesOf(train, 64)(0));
    expect(history.records).toHaveLength(4);
    expect(history.records[0].lr).toBe(resolveOptimizer(options).learningRate);
    expect(after.loss).toBeLessThan(before.loss * 0.5);
    optimizer.dispose();
    model.dispose();
  });
});
