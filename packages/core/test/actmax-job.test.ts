/**
 * Activation maximization as a long job: progress per step, a stop request honoured between steps with
 * the result so far (equal to a run of that many steps), previews, and any preprocessing inside the graph
 * (the tensor twin of applyPreprocess).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { actmaxStyle, STYLE_DEFAULTS } from '../src/methods/actmax/defaults.ts';
import { modelInput } from '../src/methods/actmax/model-input.ts';
import { classObjective } from '../src/methods/actmax/objective.ts';
import { type MaximizeResult, maximize } from '../src/methods/actmax/optimize.ts';
import { sweepTv } from '../src/methods/actmax/sweep.ts';
import { buildModel } from '../src/models/build.ts';
import { applyPreprocess, invertPreprocess, type Preprocess } from '../src/preprocess/presets.ts';
import { trainModel } from '../src/train/loop.ts';
import { makeOptimizer } from '../src/train/optimizers.ts';
import { batchesOf, quadrants } from './helpers/quadrants.ts';

const SIZE = 16;
let model: tf.LayersModel;

beforeAll(async () => {
  await initBackend('wasm');
  // RGB quadrants, fed as MobileNet is: pixels·2 − 1.
  model = buildModel('cnn1', { inputShape: [SIZE, SIZE, 3], numClasses: 4, seed: 5 });
  const set = quadrants(512, 3, SIZE, 3);
  set.x = set.x.map((v) => v * 2 - 1);
  const optimizer = makeOptimizer({ name: 'adam', learningRate: 0.01 });
  await trainModel(model, { optimizer, epochs: 2, trainBatches: batchesOf(set, 32, 1) });
  optimizer.dispose();
});

afterAll(() => model.dispose());

const MOBILENET: Preprocess = { preset: 'scale-1-1' };
const opts = { steps: 40, seed: 2, jitter: 2, scale: 0.1, rotate: 10, preprocess: MOBILENET };

describe('the long-job contract', () => {
  it('reports every step, stops between steps with the result so far, equal to a shorter run', async () => {
    const seen: [number, number][] = [];
    let polls = 0;
    const stopped = await maximize(model, [classObjective(1), classObjective(2)], opts, {
      onProgress: (done, total, detail) => {
        seen.push([done, total]);
        expect(typeof detail?.objective).toBe('number');
      },
      shouldStop: () => ++polls > 7,
    });
    expect(stopped.stopped).toBe(true);
    expect(stopped.stepsDone).toBe(7);
    expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => [i + 1, 40]));
    expect(stopped.curves[0]).toHaveLength(7);
    const short = await maximize(model, [classObjective(1), classObjective(2)], { ...opts, steps: 7 });
    expect(short.stopped).toBe(false);
    expect(short.stepsDone).toBe(7);
    for (const b of [0, 1]) {
      expect(Array.from(stopped.images[b])).toEqual(Array.from(short.images[b]));
      expect(stopped.targetProbability[b]).toBe(short.targetProbability[b]);
    }
  });

  it('a stop before the first step returns the start image', async () => {
    const start = new Float32Array(SIZE * SIZE * 3).fill(0.25);
    const r = await maximize(model, [classObjective(0)], { ...opts, start }, { shouldStop: () => true });
    expect(r.stepsDone).toBe(0);
    expect(r.curves[0]).toEqual([]);
    expect(Math.max(...r.images[0].map((v) => Math.abs(v - 0.25)))).toBeLessThan(1e-6);
  });

  it('previews every N steps, not at the end, each a snapshot that later steps do not change', async () => {
    const frames: MaximizeResult[] = [];
    const r = await maximize(model, [classObjective(3)], {
      ...opts,
      steps: 12,
      preview: { every: 5, show: (p) => frames.push(p) },
    });
    expect(frames.map((f) => f.stepsDone)).toEqual([5, 10]);
    expect(frames[0].curves[0]).toHaveLength(5);
    expect(r.curves[0].slice(0, 5)).toEqual(frames[0].curves[0]);
    expect(frames[1].objective[0]).not.toBe(r.objective[0]);
  });

  it('a sweep stopped mid-way keeps the finished columns and the stopped one', async () => {
    let step = 0;
    const totals = new Set<number>();
    const s = await sweepTv(
      model,
      [classObjective(0)],
      [0, 1, 2],
      { ...opts, steps: 5 },
      {
        onProgress: (_d, total) => totals.add(total),
        shouldStop: () => ++step > 8,
      },
    );
    expect(s.stopped).toBe(true);
    expect(totals).toEqual(new Set([15]));
    // Polls: 5 steps, one between columns, 2 steps, then the stop.
    expect(s.cells[0].map((c) => c.curve.length)).toEqual([5, 2]);
  });
});

describe('preprocessing inside the graph', () => {
  const stats = {
    kind: 'per-pixel' as const,
    height: 2,
    width: 2,
    channels: 3,
    epsilon: 0.01,
    mean: Array.from({ length: 12 }, (_, i) => 0.1 + i * 0.03),
    std: Array.from({ length: 12 }, (_, i) => 0.2 + i * 0.01),
  };
  const presets: Preprocess[] = [
    { preset: 'scale01' },
    { preset: 'scale-1-1' },
    { preset: 'range', range: [-3, 5] },
    { preset: 'caffe' },
    { preset: 'torch' },
    { preset: 'per-pixel', standardizer: stats },
  ];
  for (const p of presets) {
    it(`${p.preset}: the tensor version equals applyPreprocess`, () => {
      const px = Float32Array.from({ length: 24 }, (_, i) => ((i * 37) % 24) / 23);
      const m = modelInput(p, [2, 2, 3]);
      const got = tf.tidy(() => m.apply(tf.tensor4d(px, [2, 2, 2, 3])).dataSync());
      m.dispose();
      const want = applyPreprocess(p, px, 3, 2);
      for (let i = 0; i < px.length; i++) expect(got[i]).toBeCloseTo(want[i], 4);
    });
  }

  it('optimizes [0, 1] pixels whose preprocessed form is the reported model input', async () => {
    const r = await maximize(model, [classObjective(2)], { ...opts, steps: 30, parameterization: 'fourier' });
    const img = r.images[0];
    expect(Math.min(...img)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...img)).toBeLessThanOrEqual(1);
    const back = invertPreprocess(MOBILENET, r.inputs[0], 3);
    expect(Math.max(...back.map((v, i) => Math.abs(v - img[i])))).toBeLessThan(1e-6);
    const p = tf.tidy(() =>
      (model.predict(tf.tensor4d(r.inputs[0], [1, SIZE, SIZE, 3])) as tf.Tensor).dataSync(),
    );
    expect(Math.abs(p[2] - r.targetProbability[0]!)).toBeLessThan(1e-5);
    expect(r.targetProbability[0]!).toBeGreaterThan(0.9);
  });

  it('rejects preprocess together with a range or standardizer', async () => {
    await expect(maximize(model, [classObjective(0)], { ...opts, range: [-1, 1] })).rejects.toThrow(
      /preprocess replaces range and standardizer/,
    );
  });

  it('leaves no tensors behind (stopped, previewed, every preset)', async () => {
    await maximize(model, [classObjective(0)], { ...opts, steps: 2 });
    const before = tf.memory().numTensors;
    for (const p of presets.slice(0, 5)) {
      await maximize(model, [classObjective(0)], {
        ...opts,
        steps: 3,
        preprocess: p,
        preview: { every: 1, show() {} },
      });
      await maximize(model, [classObjective(1)], { ...opts, preprocess: p }, { shouldStop: () => true });
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('defaults by model', () => {
  it('keras-vis for small grey inputs, Lucid for RGB or ≥ 64 px', () => {
    expect(actmaxStyle([28, 28, 1])).toBe('keras-vis');
    expect(actmaxStyle([16, 16, 3])).toBe('lucid');
    expect(actmaxStyle([64, 64, 1])).toBe('lucid');
    expect(STYLE_DEFAULTS.lucid.parameterization).toBe('fourier');
    expect(STYLE_DEFAULTS['keras-vis']).toMatchObject({ steps: 256, tvWeight: 1, parameterization: 'pixel' });
  });
});
