import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { buildModel } from '../src/models/build.ts';
import type { ModelSpec } from '../src/models/spec.ts';
import { trainModel } from '../src/train/loop.ts';
import { makeOptimizer } from '../src/train/optimizers.ts';
import { batchesOf, quadrants, TINY_BN_SPEC } from './helpers/quadrants.ts';

/** Trains a seeded model on fixed data with SGD + momentum (deterministic apart from dropout). */
async function run(backend: 'cpu' | 'wasm', spec: ModelSpec | 'pw11', size: number, epochs: number) {
  await initBackend(backend);
  const set = quadrants(128, 31, size);
  const model = buildModel(spec, { inputShape: [size, size, 1], numClasses: 4, seed: 9 });
  const optimizer = makeOptimizer({ name: 'sgd', learningRate: 0.05, momentum: 0.9 });
  const history = await trainModel(model, {
    optimizer,
    epochs,
    trainBatches: batchesOf(set, 32, 1),
    valBatches: batchesOf(set, 64),
  });
  model.dispose();
  optimizer.dispose();
  return { history };
}

describe('training on the wasm backend (convlens gradient kernels)', () => {
  it('trains pw11 on 28×28 inputs and learns', async () => {
    const { history } = await run('wasm', 'pw11', 28, 3);
    const [first, , last] = history.records;
    expect(last.loss).toBeLessThan(first.loss);
    expect(last.valAcc).toBeGreaterThan(0.6); // chance is 0.25
  });

  it('matches the cpu backend on a dropout-free model', async () => {
    const spec = { ...TINY_BN_SPEC, layers: TINY_BN_SPEC.layers.filter((l) => l.type !== 'dropout') };
    const cpu = await run('cpu', spec, 8, 2);
    const wasm = await run('wasm', spec, 8, 2);
    for (const [i, r] of wasm.history.records.entries()) {
      expect(r.loss).toBeCloseTo(cpu.history.records[i].loss, 3);
      expect(r.valLoss!).toBeCloseTo(cpu.history.records[i].valLoss!, 3);
    }
  });
});
