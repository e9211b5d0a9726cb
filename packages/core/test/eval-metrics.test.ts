import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confusionStats, evaluateModel, predictBatches } from '../src/eval/metrics.ts';
import { buildModel } from '../src/models/build.ts';
import type { Batch } from '../src/train/batch-source.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('confusionStats', () => {
  it('matches a hand-computed 3×3 example', () => {
    // rows = true class, columns = predicted class
    const s = confusionStats([
      [5, 1, 0],
      [2, 3, 1],
      [0, 0, 4],
    ]);
    expect(s.total).toBe(16);
    expect(s.accuracy).toBe(12 / 16);
    // column sums 7, 4, 5; row sums 6, 6, 4
    const want = [
      { precision: 5 / 7, recall: 5 / 6, f1: 10 / 13, support: 6 },
      { precision: 3 / 4, recall: 1 / 2, f1: 0.6, support: 6 },
      { precision: 4 / 5, recall: 1, f1: 8 / 9, support: 4 },
    ];
    s.perClass.forEach((c, i) => {
      expect(c.support).toBe(want[i].support);
      expect(c.precision).toBeCloseTo(want[i].precision, 12);
      expect(c.recall).toBeCloseTo(want[i].recall, 12);
      expect(c.f1).toBeCloseTo(want[i].f1, 12);
    });
    expect(s.macroF1).toBeCloseTo((10 / 13 + 0.6 + 8 / 9) / 3, 12);
    expect(s.macroPrecision).toBeCloseTo((5 / 7 + 3 / 4 + 4 / 5) / 3, 12);
    expect(s.macroRecall).toBeCloseTo((5 / 6 + 1 / 2 + 1) / 3, 12);
  });

  it('gives 0 for empty denominators and averages only classes that occur', () => {
    const s = confusionStats([
      [2, 0, 0],
      [1, 0, 0],
      [0, 0, 0],
    ]);
    expect(s.perClass[1]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(s.perClass[2]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    // class 0: p = 2/3, r = 1, f1 = 0.8; class 1: 0; class 2 never occurs
    expect(s.macroF1).toBeCloseTo(0.4, 12);
    expect(confusionStats([]).accuracy).toBe(0);
    expect(() => confusionStats([[1, 2]])).toThrow(/square/);
  });
});

describe('evaluateModel', () => {
  // 2×2×3 images → global average pooling → logits with identity weights: the logits are the
  // channel means, so the expected predictions are known exactly.
  let model: tf.LayersModel;
  beforeAll(() => {
    model = buildModel(
      { name: 'means', layers: [{ type: 'gap' }] },
      { inputShape: [2, 2, 3], numClasses: 3 },
    );
    tf.tidy(() => model.getLayer('logits').setWeights([tf.eye(3), tf.zeros([3])]));
  });
  afterAll(() => model.dispose());

  const rows: { v: [number, number, number]; label: number }[] = [
    { v: [3, 0, 0], label: 0 },
    { v: [0, 2, 0], label: 0 }, // predicted 1
    { v: [0, 0, 1], label: 2 },
    { v: [1, 4, 0], label: 1 },
    { v: [0, 0, 9], label: 1 }, // predicted 2, confidently
    { v: [2, 1, 0], label: 0 },
    { v: [0, 1, 5], label: 2 },
  ];
  const image = (v: number[]) => Array.from({ length: 4 }, () => v).flat();
  const batches = (sizes: number[]): Batch[] => {
    let at = 0;
    return sizes.map((size) => {
      const part = rows.slice(at, at + size);
      at += size;
      return {
        x: Float32Array.from(part.flatMap((r) => image(r.v))),
        y: Uint8Array.from(part.map((r) => r.label)),
        size,
      };
    });
  };
  const softmax = (v: number[]) => {
    const m = Math.max(...v);
    const e = v.map((a) => Math.exp(a - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((a) => a / s);
  };

  it('computes accuracy, loss, confusion, per-class stats and misclassified examples across batches', async () => {
    const ev = await evaluateModel(model, batches([3, 3, 1]), 3);
    expect(ev.count).toBe(7);
    expect(ev.accuracy).toBeCloseTo(5 / 7, 12);
    expect(ev.confusion).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 2],
    ]);
    const loss = rows.reduce((a, r) => a - Math.log(softmax(r.v)[r.label]), 0) / rows.length;
    expect(ev.loss).toBeCloseTo(loss, 5);
    expect(ev.perClass.map((c) => c.support)).toEqual([3, 2, 2]);
    expect(ev.macroF1).toBeCloseTo(confusionStats(ev.confusion).macroF1, 12);
    expect(ev.misclassified.map(({ index, label, predicted }) => [index, label, predicted])).toEqual([
      [1, 0, 1],
      [4, 1, 2],
    ]);
    expect(ev.misclassified[1].confidence).toBeCloseTo(softmax([0, 0, 9])[2], 6);
  });

  it('does not depend on batch boundaries and caps the misclassified list', async () => {
    const a = await evaluateModel(model, batches([7]), 3);
    const b = await evaluateModel(model, batches([1, 1, 2, 3]), 3, { maxMisclassified: 1 });
    expect(b.confusion).toEqual(a.confusion);
    expect(b.loss).toBeCloseTo(a.loss, 6);
    expect(b.misclassified).toEqual(a.misclassified.slice(0, 1));
  });

  it('keeps the loss finite for confident mistakes (computed from logits)', async () => {
    const x = Float32Array.from(image([0, 0, 200]));
    const ev = await evaluateModel(model, [{ x, y: Uint8Array.of(0), size: 1 }], 3);
    expect(ev.loss).toBeCloseTo(200, 3);
  });

  it('rejects a class-count mismatch and an empty stream', async () => {
    await expect(evaluateModel(model, batches([7]), 10)).rejects.toThrow(
      /outputs 3 classes but numClasses is 10/,
    );
    await expect(evaluateModel(model, [], 3)).rejects.toThrow(/no examples/);
  });

  it('predicts unlabelled batches with running offsets', async () => {
    const out = [];
    for await (const p of predictBatches(
      model,
      batches([4, 3]).map(({ x, size }) => ({ x, size })),
    )) {
      out.push(p);
    }
    expect(out.map((p) => [p.offset, p.size, p.labels, p.losses])).toEqual([
      [0, 4, undefined, undefined],
      [4, 3, undefined, undefined],
    ]);
    const probs = Array.from(out[1].probs.subarray(0, 3));
    for (const [j, p] of softmax(rows[4].v).entries()) expect(probs[j]).toBeCloseTo(p, 6);
  });

  it('evaluates a softmax-only model from its probabilities', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.globalAveragePooling2d({ inputShape: [2, 2, 3] }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    tf.tidy(() => m.layers[1].setWeights([tf.eye(3), tf.zeros([3])]));
    const ev = await evaluateModel(m, batches([7]), 3);
    const loss = rows.reduce((a, r) => a - Math.log(softmax(r.v)[r.label]), 0) / rows.length;
    expect(ev.loss).toBeCloseTo(loss, 5);
    expect(ev.accuracy).toBeCloseTo(5 / 7, 12);
    m.dispose();
  });

  it('does not leak tensors', async () => {
    await evaluateModel(model, batches([3, 4]), 3);
    const n = tf.memory().numTensors;
    await evaluateModel(model, batches([3, 4]), 3);
    for await (const _ of predictBatches(model, batches([7]))) {
      // drain
    }
    expect(tf.memory().numTensors).toBe(n);
  });
});
