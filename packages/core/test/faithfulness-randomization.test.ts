import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import type { ExplainMethod } from '../src/methods/explain/types.ts';
import { randomizationCheck } from '../src/methods/faithfulness/randomization.ts';

/** dense(8, relu) → dense(2) on a 4×4 image, seeded. */
function model(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
  m.add(
    tf.layers.dense({
      units: 8,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  m.add(tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  return m;
}

/** Gradient × input of the target score: depends on the weights. */
const gradTimesInput: ExplainMethod = {
  id: 'gxi',
  title: 'g×i',
  description: '',
  needsLayer: false,
  async explain(req) {
    const t = req.target as number[] | number;
    const target = Array.isArray(t) ? t[0] : t;
    const g = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => (req.model.apply(x) as tf.Tensor2D).slice([0, target], [-1, 1]).sum())(
          req.input,
        )
        .mul(req.input),
    );
    const d = (await g.data()) as Float32Array;
    g.dispose();
    return {
      method: 'gxi',
      maps: [Float32Array.from(d)],
      height: 4,
      width: 4,
      signed: true,
      targets: [target],
      warnings: [[]],
      meta: {},
    };
  },
};

/** A map that is the input itself, ignoring the model: must be flagged. */
const inputOnly: ExplainMethod = {
  ...gradTimesInput,
  id: 'input',
  async explain(req) {
    const d = (await req.input.data()) as Float32Array;
    return {
      method: 'input',
      maps: [Float32Array.from(d)],
      height: 4,
      width: 4,
      signed: false,
      targets: [0],
      warnings: [[]],
      meta: {},
    };
  },
};

describe('model randomization sanity check', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('flags a model-independent map, not a weight-dependent one, and leaves the model untouched', async () => {
    const m = model();
    const input = tf.tensor4d(
      Array.from({ length: 16 }, (_, i) => ((i * 7) % 16) / 16 + 0.1),
      [1, 4, 4, 1],
    );
    const before = m.getWeights().map((w) => Array.from(w.dataSync()));
    const a = await randomizationCheck(inputOnly, { model: m, input, target: 0 });
    expect(a.flagged).toBe(true);
    expect(a.steps.map((s) => s.layer)).toHaveLength(2);
    for (const s of a.steps) expect(s.correlation).toBeCloseTo(1, 12);
    const b = await randomizationCheck(gradTimesInput, { model: m, input, target: 0 }, { seed: 3 });
    expect(b.flagged).toBe(false);
    expect(b.steps.at(-1)?.correlation).toBeLessThan(0.5);
    for (const [i, w] of m.getWeights().entries()) expect(Array.from(w.dataSync())).toEqual(before[i]);
    const n0 = tf.memory().numTensors;
    await randomizationCheck(gradTimesInput, { model: m, input, target: 0 }, { seed: 3 });
    expect(tf.memory().numTensors).toBe(n0);
    input.dispose();
    m.dispose();
  });
});
