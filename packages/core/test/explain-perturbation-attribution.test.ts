// Segment-perturbation attributions against models whose answer is known: Shapley value sampling is
// exact on a model additive over segments, feature ablation sees only the quadrant a model reads
// (exactly zero elsewhere), and RISE's map lines up with that quadrant.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../src/data/rng.ts';
import { initBackend } from '../src/engine/backend.ts';
import { featureAblation } from '../src/methods/explain/feature-ablation.ts';
import { rise, riseMask } from '../src/methods/explain/rise.ts';
import { antitheticOrders, shapleySampling } from '../src/methods/explain/shapley-sampling.ts';

function rand(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s / 2 ** 32) * scale + shift;
  });
}

/** Logits of a dense layer over the flattened input: additive over any partition of the pixels. */
function linearNet(size: number): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [size, size, 1] }));
  m.add(
    tf.layers.dense({
      units: 3,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
      biasInitializer: 'ones',
    }),
  );
  return m;
}

/** Softmax over 2 classes whose logits read only the top-left quadrant (class 0: its brightness). */
function quadrantNet(size: number): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [size, size, 1] }));
  const d = tf.layers.dense({ units: 2, activation: 'softmax' });
  m.add(d);
  const w = new Float32Array(size * size * 2);
  for (let y = 0; y < size / 2; y++)
    for (let x = 0; x < size / 2; x++) {
      w[(y * size + x) * 2] = 0.15;
    }
  // Centred so that keeping about half the quadrant's brightness gives p ≈ ½: the output moves with the masks.
  d.setWeights([tf.tensor2d(w, [size * size, 2]), tf.tensor1d([-0.15 * 0.4 * (size / 2) ** 2, 0])]);
  return m;
}

const inQuadrant = (p: number, size: number) => Math.floor(p / size) < size / 2 && p % size < size / 2;

describe('segment perturbation attributions', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('Shapley value sampling is exact on a model additive over segments, for any fill', async () => {
    const model = linearNet(6);
    const x = tf.tensor4d(rand(2 * 36, 3, 2, -1), [2, 6, 6, 1]);
    const w = model.layers[1].getWeights()[0].arraySync() as number[][];
    const xv = x.dataSync();
    const before = tf.memory().numTensors;
    for (const fill of [0, 0.5]) {
      const e = await shapleySampling.explain({
        model,
        input: x,
        target: [0, 2],
        options: { segments: 'grid', cell: 2, fill, permutations: 3, seed: 4 },
      });
      expect(e.meta.segments).toEqual([9, 9]);
      for (let i = 0; i < 2; i++) {
        const t = [0, 2][i];
        for (let p = 0; p < 36; p++) {
          // The segment's Shapley value: Σ over its pixels of w·(x − fill), the same on each of its pixels.
          const cy = Math.floor(Math.floor(p / 6) / 2);
          const cx = Math.floor((p % 6) / 2);
          let phi = 0;
          for (let q = 0; q < 36; q++)
            if (Math.floor(Math.floor(q / 6) / 2) === cy && Math.floor((q % 6) / 2) === cx)
              phi += w[q][t] * (xv[i * 36 + q] - fill);
          expect(e.maps[i][p]).toBeCloseTo(phi, 4);
        }
        expect(Math.abs((e.meta.efficiencyGap as number[])[i])).toBeLessThan(1e-4);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('orders come in antithetic pairs, each a permutation', () => {
    const orders = antitheticOrders(7, 4, 1);
    for (const o of orders) expect([...o].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(orders[1]).toEqual([...orders[0]].reverse());
    expect(orders[3]).toEqual([...orders[2]].reverse());
    expect(orders[2]).not.toEqual(orders[0]);
  });

  it('feature ablation is zero outside the quadrant a model reads and the exact drop inside', async () => {
    const model = quadrantNet(8);
    const x = tf.tensor4d(rand(64, 9, 0.6, 0.4), [1, 8, 8, 1]);
    const before = tf.memory().numTensors;
    const e = await featureAblation.explain({
      model,
      input: x,
      target: 0,
      options: { segments: 'grid', cell: 2 },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(e.meta.segments).toEqual([16]);
    const xv = x.dataSync();
    const p0 = (img: Float32Array) =>
      tf.tidy(() => (model.predict(tf.tensor4d(img, [1, 8, 8, 1])) as tf.Tensor).dataSync()[0]);
    const fx = p0(Float32Array.from(xv));
    for (let p = 0; p < 64; p++) {
      if (!inQuadrant(p, 8)) {
        expect(e.maps[0][p]).toBe(0);
        continue;
      }
      // Hide p's 2×2 cell by hand and compare.
      const cy = Math.floor(p / 8 / 2);
      const cx = Math.floor((p % 8) / 2);
      const hidden = Float32Array.from(xv, (v, q) =>
        Math.floor(q / 8 / 2) === cy && Math.floor((q % 8) / 2) === cx ? 0 : v,
      );
      const drop = fx - p0(hidden);
      expect(drop).toBeGreaterThan(1e-3);
      expect(e.maps[0][p]).toBeCloseTo(drop, 5);
    }
    x.dispose();
    model.dispose();
  });

  it('RISE masks are seeded, in [0, 1] and keep about p of the image', () => {
    const a = riseMask(32, 32, 4, 0.5, createRng(3));
    const b = riseMask(32, 32, 4, 0.5, createRng(3));
    expect(Array.from(a)).toEqual(Array.from(b));
    let mean = 0;
    let lo = 1;
    let hi = 0;
    const rng = createRng(5);
    for (let k = 0; k < 200; k++) {
      const m = riseMask(32, 32, 4, 0.5, rng);
      for (const v of m) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        mean += v / m.length / 200;
      }
    }
    expect(lo).toBe(0);
    expect(hi).toBe(1);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });

  it('RISE correlates with the quadrant a model reads', async () => {
    const size = 16;
    const model = quadrantNet(size);
    const x = tf.tensor4d(rand(size * size, 2, 0.3, 0.7), [1, size, size, 1]);
    const before = tf.memory().numTensors;
    const e = await rise.explain({ model, input: x, target: 0, options: { seed: 1 } });
    expect(tf.memory().numTensors).toBe(before);
    expect(e.meta.masks).toBe(512);
    const m = e.maps[0];
    const q = Array.from(m, (_, p) => (inQuadrant(p, size) ? 1 : 0));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const mm = mean(Array.from(m));
    const mq = mean(q);
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let p = 0; p < m.length; p++) {
      sxy += (m[p] - mm) * (q[p] - mq);
      sxx += (m[p] - mm) ** 2;
      syy += (q[p] - mq) ** 2;
    }
    const r = sxy / Math.sqrt(sxx * syy);
    expect(r).toBeGreaterThan(0.7);
    // The paper's uncentred map is the centred one plus f̄ times each pixel's mask coverage / p (≈ 1).
    const raw = await rise.explain({ model, input: x, target: 0, options: { seed: 1, center: false } });
    expect(raw.signed).toBe(false);
    const fbar = (e.meta.meanOutput as number[])[0];
    expect(fbar).toBeGreaterThan(0.1);
    for (let p = 0; p < m.length; p++) {
      const ratio = (raw.maps[0][p] - m[p]) / fbar;
      expect(ratio).toBeGreaterThan(0.85);
      expect(ratio).toBeLessThan(1.15);
    }
    x.dispose();
    model.dispose();
  });
});
