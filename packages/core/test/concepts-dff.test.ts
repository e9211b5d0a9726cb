// NMF recovers an exact non-negative low-rank matrix; DFF on a model built so the answer is known: two
// channels that fire on the left and right halves, a head that reads channel j as class j.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { deepFeatureFactorization } from '../src/methods/concepts/dff.ts';
import { nmf } from '../src/methods/concepts/nmf.ts';

describe('nmf', () => {
  it('factors a rank-3 non-negative matrix almost exactly, the same for the same seed', () => {
    const n = 12;
    const m = 20;
    const k = 3;
    let s = 5;
    const r = () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s / 2 ** 32;
    };
    const w = Array.from({ length: n * k }, r);
    const h = Array.from({ length: k * m }, r);
    const v = new Float64Array(n * m);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) for (let q = 0; q < k; q++) v[i * m + j] += w[i * k + q] * h[q * m + j];
    const a = nmf(v, n, m, k, { seed: 1, iterations: 3000, tolerance: 0 });
    expect(a.relativeError).toBeLessThan(0.02);
    const b = nmf(v, n, m, k, { seed: 1, iterations: 50 });
    const c = nmf(v, n, m, k, { seed: 1, iterations: 50 });
    expect(Array.from(b.w)).toEqual(Array.from(c.w));
    // Rank 1 cannot fit it.
    expect(nmf(v, n, m, 1, { seed: 1 }).relativeError).toBeGreaterThan(0.05);
    expect(() => nmf([1, -1], 1, 2, 1)).toThrow(/non-negative/);
  });
});

describe('deep feature factorization', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  it('finds the two halves and names each by the class its channel drives', () => {
    const input = tf.input({ shape: [8, 8, 2] });
    const feat = tf.layers
      .conv2d({
        filters: 2,
        kernelSize: 1,
        activation: 'relu',
        name: 'feat',
        useBias: false,
        weights: [tf.tensor4d([1, 0, 0, 1], [1, 1, 2, 2])],
      })
      .apply(input) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({}).apply(feat) as tf.SymbolicTensor;
    const logits = tf.layers
      .dense({ units: 2, name: 'logits', weights: [tf.tensor2d([4, 0, 0, 4], [2, 2]), tf.zeros([2])] })
      .apply(gap) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: logits });
    const img = new Float32Array(8 * 8 * 2);
    for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) img[(r * 8 + c) * 2 + (c < 4 ? 0 : 1)] = 1;
    const x = tf.tensor4d(img, [1, 8, 8, 2]);
    const before2 = tf.memory().numTensors;
    const d = deepFeatureFactorization(model, x, { layer: 'feat', k: 2, seed: 3 });
    expect(tf.memory().numTensors).toBe(before2);
    expect(d.layerShape).toEqual([8, 8, 2]);
    for (let j = 0; j < 2; j++) {
      const cls = d.scores[j][0] > d.scores[j][1] ? 0 : 1;
      // The concept's region: where it is strongest must be the half of its class's channel.
      const reg = d.regions[0];
      let left = 0;
      let right = 0;
      for (let r = 0; r < 8; r++)
        for (let c = 0; c < 8; c++) {
          const v = reg[j * 64 + r * 8 + c];
          if (c < 4) left += v;
          else right += v;
        }
      expect(cls === 0 ? left > 10 * right : right > 10 * left).toBe(true);
      expect(Math.abs(d.scores[j][0] - d.scores[j][1])).toBeGreaterThan(1);
    }
    expect(d.relativeError).toBeLessThan(0.01);
    x.dispose();
  });
});
