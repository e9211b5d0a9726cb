/**
 * Batched activation maximization on a small CNN trained here on the quadrant task (class = bright
 * quadrant): it learns what each class wants to see, deterministically, batched = one by one, and leaks
 * no tensors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import {
  classObjective,
  compileObjectives,
  describeObjective,
  filterObjective,
  type Objective,
  unitObjective,
} from '../src/methods/actmax/objective.ts';
import { maximize } from '../src/methods/actmax/optimize.ts';
import { sweepTv } from '../src/methods/actmax/sweep.ts';
import { buildModel } from '../src/models/build.ts';
import { trainModel } from '../src/train/loop.ts';
import { makeOptimizer } from '../src/train/optimizers.ts';
import { batchesOf, quadrants } from './helpers/quadrants.ts';

const SIZE = 16;
// The lecture CNN (conv32-pool-conv64-pool-dense128): trains to ~100% here in a few seconds.
const SPEC = 'cnn1';
const CLASSES = [0, 1, 2, 3].map((k) => classObjective(k));
let model: tf.LayersModel;

beforeAll(async () => {
  await initBackend('wasm');
  model = buildModel(SPEC, { inputShape: [SIZE, SIZE, 1], numClasses: 4, seed: 4 });
  const optimizer = makeOptimizer({ name: 'adam', learningRate: 0.01 });
  const set = quadrants(512, 3, SIZE);
  const history = await trainModel(model, {
    optimizer,
    epochs: 3,
    trainBatches: batchesOf(set, 32, 1),
    valBatches: batchesOf(quadrants(128, 4, SIZE), 128),
  });
  optimizer.dispose();
  expect(history.records.at(-1)!.valAcc).toBeGreaterThan(0.9);
});

afterAll(() => model.dispose());

const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** Mean brightness of quadrant q (0: top-left, 1: top-right, 2: bottom-left, 3: bottom-right). */
function quadrantMean(img: Float32Array, q: number): number {
  const h = SIZE / 2;
  let s = 0;
  for (let i = 0; i < h; i++)
    for (let j = 0; j < h; j++) s += img[(i + (q >> 1) * h) * SIZE + j + (q & 1) * h];
  return s / (h * h);
}

describe('class objectives', () => {
  it('reach their class with high probability, raise the objective, and light up the right quadrant', async () => {
    const r = await maximize(model, CLASSES, { steps: 40, seed: 1 });
    expect(r.predicted).toEqual([0, 1, 2, 3]);
    for (const p of r.targetProbability) expect(p!).toBeGreaterThan(0.95);
    for (const [k, curve] of r.curves.entries()) {
      expect(curve).toHaveLength(40);
      expect(curve.at(-1)!).toBeGreaterThan(curve[0] + 1);
      // Mostly increasing: the last quarter's mean is above the first quarter's.
      const q = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      expect(q(curve.slice(30))).toBeGreaterThan(q(curve.slice(0, 10)));
      const img = r.images[k];
      const others = [0, 1, 2, 3].filter((x) => x !== k).map((x) => quadrantMean(img, x));
      expect(quadrantMean(img, k)).toBeGreaterThan(Math.max(...others));
      expect(Math.min(...img)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...img)).toBeLessThanOrEqual(1);
    }
  });

  it('minimizing lowers the class logit below its start', async () => {
    const r = await maximize(model, [{ ...classObjective(2), minimize: true }], { steps: 20 });
    expect(r.curves[0].at(-1)!).toBeLessThan(r.curves[0][0] - 1);
    expect(r.targetProbability[0]!).toBeLessThan(0.05);
  });

  it('the softmax-probability objective also reaches the class', async () => {
    const r = await maximize(model, [classObjective(1, 'probability')], { steps: 30, learningRate: 0.1 });
    expect(r.predicted[0]).toBe(1);
    expect(r.objective[0]).toBeCloseTo(r.targetProbability[0]!, 5);
  });

  it('a weighted sum of two classes favours both over the others', async () => {
    const both: Objective = {
      terms: [
        { kind: 'class', index: 0, weight: 0.5 },
        { kind: 'class', index: 3, weight: 0.5 },
      ],
    };
    expect(describeObjective(both)).toBe('0.5·class 0 + 0.5·class 3');
    const r = await maximize(model, [both], { steps: 40 });
    const p = r.probabilities[0];
    expect(p[0] + p[3]).toBeGreaterThan(0.9);
  });
});

describe('filters and units', () => {
  it('raise a filter mean, a filter at one position and a dense unit', async () => {
    const objs = [
      filterObjective('conv2', 3),
      filterObjective('conv1', 5, [4, 11]),
      unitObjective('dense1', 7),
    ];
    const r = await maximize(model, objs, { steps: 30, tvWeight: 0 });
    for (const curve of r.curves) expect(curve.at(-1)!).toBeGreaterThan(curve[0]);
    expect(r.targetProbability).toEqual([null, null, null]);
  });

  it('read fused-ReLU layers before the activation: relu(objective) is the layer output', () => {
    const x = tf.tidy(() => tf.randomUniform([2, SIZE, SIZE, 1], 0, 1, 'float32', 3) as tf.Tensor4D);
    const compiled = compileObjectives(model, [
      filterObjective('conv2', 6, [2, 5]),
      unitObjective('dense1', 9),
    ]);
    const probe = tf.model({
      inputs: model.inputs,
      outputs: [model.getLayer('conv2').output, model.getLayer('dense1').output] as tf.SymbolicTensor[],
    });
    const obj = tf.tidy(() => compiled.apply(x).dataSync());
    const [conv, dense] = (probe.predict(x) as tf.Tensor[]).map((t) => {
      const v = t.arraySync() as any;
      t.dispose();
      return v;
    });
    expect(Math.max(0, obj[0])).toBeCloseTo(conv[0][2][5][6], 4);
    expect(Math.max(0, obj[1])).toBeCloseTo(dense[1][9], 4);
    compiled.dispose();
    x.dispose();
  });
});

describe('reproducibility', () => {
  const opts = { steps: 12, seed: 7, jitter: 2, scale: 0.1, rotate: 10 };

  it('is deterministic per seed, and another seed gives another image', async () => {
    const a = await maximize(model, CLASSES.slice(0, 2), opts);
    const b = await maximize(model, CLASSES.slice(0, 2), opts);
    expect(maxAbsDiff(a.images[0], b.images[0])).toBe(0);
    expect(a.curves).toEqual(b.curves);
    const c = await maximize(model, CLASSES.slice(0, 2), { ...opts, seed: 8 });
    expect(maxAbsDiff(a.images[0], c.images[0])).toBeGreaterThan(0.01);
  });

  it('a batch of objectives equals running them one by one', async () => {
    for (const parameterization of ['pixel', 'fourier'] as const) {
      const batch = await maximize(model, CLASSES, { ...opts, parameterization });
      for (const k of [0, 3]) {
        const single = await maximize(model, [CLASSES[k]], { ...opts, parameterization });
        expect(maxAbsDiff(batch.images[k], single.images[0])).toBeLessThan(1e-4);
        expect(batch.objective[k]).toBeCloseTo(single.objective[0], 3);
      }
    }
  });

  it('starts from a given image, and rejects NaN/inf in it', async () => {
    const start = new Float32Array(SIZE * SIZE).fill(0.5);
    const r = await maximize(model, [CLASSES[0]], { steps: 1, learningRate: 1e-6, start, tvWeight: 0 });
    expect(maxAbsDiff(r.images[0], start)).toBeLessThan(1e-3);
    start[37] = Number.NaN;
    await expect(maximize(model, [CLASSES[0]], { start })).rejects.toThrow(
      /non-finite value \(NaN\) at row 2, column 5/,
    );
    start[37] = Number.POSITIVE_INFINITY;
    await expect(maximize(model, [CLASSES[0]], { start })).rejects.toThrow(/non-finite value \(Infinity\)/);
  });
});

describe('standardized models', () => {
  it('optimizes in [0, 1] image space and standardizes inside the graph', async () => {
    const n = SIZE * SIZE;
    const standardizer = {
      height: SIZE,
      width: SIZE,
      channels: 1,
      mean: new Float32Array(n).fill(0.2),
      std: new Float32Array(n).fill(0.5),
      epsilon: 0.01,
    };
    const r = await maximize(model, [CLASSES[2]], { steps: 10, standardizer });
    expect(Math.min(...r.images[0])).toBeGreaterThanOrEqual(0);
    expect(Math.max(...r.images[0])).toBeLessThanOrEqual(1);
    const probs = tf.tidy(() => {
      const x = tf.tensor4d(r.images[0], [1, SIZE, SIZE, 1]).sub(0.2).div(0.5);
      return Array.from((model.predict(x) as tf.Tensor).dataSync());
    });
    for (let k = 0; k < 4; k++) expect(r.probabilities[0][k]).toBeCloseTo(probs[k], 5);
  });
});

describe('regularization', () => {
  it('a larger tv weight gives smoother images, monotonically on average', async () => {
    const weights = [0, 0.5, 2, 8, 32];
    const s = await sweepTv(model, CLASSES, weights, { steps: 30, seed: 2 });
    expect(s.cells).toHaveLength(4);
    expect(s.cells[0]).toHaveLength(weights.length);
    for (let i = 1; i < weights.length; i++)
      expect(s.meanTotalVariation[i]).toBeLessThan(s.meanTotalVariation[i - 1]);
    expect(s.meanTotalVariation.at(-1)!).toBeLessThan(s.meanTotalVariation[0] / 2);
    // At moderate weights the classes are still reached.
    for (const row of s.cells) expect(row[1].predicted).toBe(row[1].row);
  });

  it('blur every N steps, Lp norm and the Fourier parameterization run and still reach the class', async () => {
    const r = await maximize(model, CLASSES, {
      steps: 40,
      blurEvery: 4,
      blurSigma: 0.7,
      lpWeight: 1,
      parameterization: 'fourier',
      learningRate: 0.1,
    });
    expect(r.predicted).toEqual([0, 1, 2, 3]);
  });
});

describe('errors and memory', () => {
  it('rejects bad targets and options with one clear line', async () => {
    await expect(maximize(model, [classObjective(4)])).rejects.toThrow(
      /class 4 is out of range: the model has 4 classes \(0-3\)/,
    );
    await expect(maximize(model, [filterObjective('conv1', 32)])).rejects.toThrow(
      /filter 32 is out of range: layer conv1 has 32 filters \(0-31\)/,
    );
    await expect(maximize(model, [filterObjective('nope', 0)])).rejects.toThrow(
      /no layer 'nope' .*layers: .*conv1, pool1/,
    );
    await expect(maximize(model, [unitObjective('conv1', 0)])).rejects.toThrow(/not a dense layer/);
    await expect(maximize(model, CLASSES, { steps: 0 })).rejects.toThrow(/steps must be a positive integer/);
  });

  it('leaves no tensors behind across repeated calls (including failures)', async () => {
    const objs = [...CLASSES, filterObjective('conv1', 1, [3, 3])];
    await maximize(model, objs, {
      steps: 2,
      jitter: 1,
      rotate: 5,
      blurEvery: 1,
      parameterization: 'fourier',
    });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await maximize(model, objs, { steps: 3, jitter: 1, rotate: 5, blurEvery: 2, lpWeight: 1 });
      await maximize(model, objs, { steps: 3, parameterization: 'fourier', scale: 0.1 });
      await sweepTv(model, CLASSES, [0, 1], { steps: 2 });
      await maximize(model, [classObjective(9)]).catch(() => {});
      await maximize(model, CLASSES, { start: new Float32Array(SIZE * SIZE).fill(Number.NaN) }).catch(
        () => {},
      );
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
