// Perturbation methods against known answers: SLIC follows flat-colour boundaries, LIME recovers a
// linear model's segment weights, KernelSHAP gives exact Shapley values and is efficient, Score-CAM
// finds the only region a net reads; all deterministic and leak-free.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { kernelShap, shapCoalitions } from '../src/methods/explain/kernel-shap.ts';
import { lime, limeFit, limeWeights, randomMasks } from '../src/methods/explain/lime.ts';
import { PERTURBATION_METHODS } from '../src/methods/explain/perturbation-methods.ts';
import { scoreCam } from '../src/methods/explain/score-cam.ts';
import { gridSegments, type Segmentation, slicSegments } from '../src/methods/explain/superpixels.ts';
import { rng } from './helpers/quadrants.ts';

/** Quadrant (0 TL, 1 TR, 2 BL, 3 BR) of pixel p of a size×size image split at row sy, column sx. */
const quadrant = (p: number, size: number, sy: number, sx: number) =>
  (Math.floor(p / size) < sy ? 0 : 2) + (p % size < sx ? 0 : 1);

/**
 * size×size image of four flat "quadrants" split off-centre at row sy, column sx (so a grid of
 * seeds alone would not find the boundaries), colours given per quadrant (C channels each).
 */
function quadrantImage(size: number, colours: number[][], sy: number, sx: number): Float32Array {
  const C = colours[0].length;
  const img = new Float32Array(size * size * C);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const q = quadrant(y * size + x, size, sy, sx);
      for (let c = 0; c < C; c++) img[(y * size + x) * C + c] = colours[q][c];
    }
  return img;
}

/** Labels are exactly 0..count-1, all used, and each label is one 4-connected region. */
function expectContiguous(s: Segmentation) {
  const { labels, count, height: H, width: W } = s;
  expect(new Set(labels).size).toBe(count);
  expect(Math.min(...labels)).toBe(0);
  expect(Math.max(...labels)).toBe(count - 1);
  const seen = new Uint8Array(H * W);
  const regions = new Set<number>();
  for (let p = 0; p < H * W; p++) {
    if (seen[p]) continue;
    const l = labels[p];
    expect(regions.has(l), `label ${l} is split`).toBe(false);
    regions.add(l);
    const stack = [p];
    seen[p] = 1;
    while (stack.length) {
      const q = stack.pop()!;
      const y = Math.floor(q / W);
      const x = q % W;
      for (const [yy, xx] of [
        [y - 1, x],
        [y + 1, x],
        [y, x - 1],
        [y, x + 1],
      ]) {
        const r = yy * W + xx;
        if (yy >= 0 && yy < H && xx >= 0 && xx < W && !seen[r] && labels[r] === l) {
          seen[r] = 1;
          stack.push(r);
        }
      }
    }
  }
}

/**
 * flatten → dense(2, linear, no bias) on size×size×1: output 0 is Σ w_p x_p with w constant on each
 * cell×cell grid cell (segment s has per-pixel weight ws[s]), output 1 its negation. Not a softmax:
 * the perturbation methods read the output as is, so the target is exactly linear in the segments.
 */
function linearNet(size: number, cell: number, ws: number[]): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [size, size, 1] }));
  m.add(tf.layers.dense({ units: 2, useBias: false }));
  const seg = gridSegments(size, size, cell);
  const w = new Float32Array(size * size * 2);
  seg.labels.forEach((s, p) => {
    w[p * 2] = ws[s];
    w[p * 2 + 1] = -ws[s];
  });
  m.layers[1].setWeights([tf.tensor2d(w, [size * size, 2])]);
  return m;
}

/** conv(4, relu) → maxpool → flatten → dense(3, softmax) on 8×8×2: a nonlinear classifier. */
function softmaxNet(): tf.LayersModel {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [8, 8, 2],
      filters: 4,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      biasInitializer: 'ones',
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(
    tf.layers.dense({
      units: 3,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  return m;
}

/**
 * 8×8×2 → conv 'c' (1×1, identity, bias −0.3, relu) → maxpool 'pool' → GAP → 'logits' (20·I) →
 * softmax: class c is 20·mean(relu(x_c − 0.3)), pooled.
 */
function quadrantChannelNet(): tf.LayersModel {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 2, kernelSize: 1, activation: 'relu', name: 'c' }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }));
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(tf.layers.dense({ units: 2, name: 'logits' }));
  m.add(tf.layers.activation({ activation: 'softmax', name: 'probs' }));
  m.getLayer('c').setWeights([tf.tensor4d([1, 0, 0, 1], [1, 1, 2, 2]), tf.tensor1d([-0.3, -0.3])]);
  m.getLayer('logits').setWeights([tf.tensor2d([20, 0, 0, 20], [2, 2]), tf.zeros([2])]);
  return m;
}

function randomImage(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r());
}

describe('perturbation methods', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('SLIC segments follow flat-colour quadrant boundaries, for grey and RGB images', () => {
    const grey = quadrantImage(16, [[0], [0.33], [0.66], [1]], 6, 10);
    const rgb = quadrantImage(
      20,
      [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [1, 1, 0],
      ],
      7,
      13,
    );
    for (const [img, size, C, k, sy, sx] of [
      [grey, 16, 1, 4, 6, 10],
      [rgb, 20, 3, 4, 7, 13],
      [grey, 16, 1, 16, 6, 10],
      [rgb, 20, 3, 9, 7, 13],
    ] as const) {
      const s = slicSegments(img, size, size, C, { nSegments: k });
      expectContiguous(s);
      // Every segment lies inside one quadrant.
      const quadrantOf = new Map<number, number>();
      s.labels.forEach((l, p) => {
        const q = quadrant(p, size, sy, sx);
        expect(quadrantOf.get(l) ?? q, `segment ${l} crosses quadrants (k=${k})`).toBe(q);
        quadrantOf.set(l, q);
      });
      if (k === 4) expect(s.count).toBe(4);
      else expect(s.count).toBeGreaterThanOrEqual(k / 2);
    }
    // Deterministic.
    const a = slicSegments(rgb, 20, 20, 3, { nSegments: 9 });
    expect(Array.from(slicSegments(rgb, 20, 20, 3, { nSegments: 9 }).labels)).toEqual(Array.from(a.labels));
    // On a smooth textured image the segments are still numbered 0..K-1 and connected, about as many as asked.
    const r = rng(3);
    const tex = Float32Array.from(
      { length: 32 * 32 * 3 },
      (_, i) => Math.sin(Math.floor(i / 96) / 3 + (i % 3)) * Math.cos(((i / 3) % 32) / 4) + 0.1 * r(),
    );
    const sn = slicSegments(tex, 32, 32, 3, { nSegments: 25 });
    expectContiguous(sn);
    expect(sn.count).toBeGreaterThan(12);
    expect(sn.count).toBeLessThan(60);
  });

  it('grid segments: ceil(H/cell)·ceil(W/cell) cells numbered row by row', () => {
    const g = gridSegments(28, 28, 4);
    expect(g.count).toBe(49);
    expectContiguous(g);
    expect(g.labels[0]).toBe(0);
    expect(g.labels[27]).toBe(6);
    expect(g.labels[4 * 28]).toBe(7);
    expect(g.labels[28 * 28 - 1]).toBe(48);
    const odd = gridSegments(10, 7, 3);
    expect(odd.count).toBe(4 * 3);
    expect(odd.labels[9 * 7 + 6]).toBe(11);
    expectContiguous(odd);
  });

  it('the LIME fit recovers a linear function of the segment indicators exactly', () => {
    const coef = [0.5, -0.2, 0, 0.9, -0.7, 0.1];
    const rows = randomMasks(6, 200, 1);
    expect(Array.from(rows[0])).toEqual([1, 1, 1, 1, 1, 1]);
    const y = rows.map((r) => 0.3 + r.reduce((a, z, j) => a + z * coef[j], 0));
    const fit = limeFit(rows, y, 1e-6);
    for (let j = 0; j < 6; j++) expect(fit.coef[j]).toBeCloseTo(coef[j], 5);
    expect(fit.intercept).toBeCloseTo(0.3, 5);
    expect(fit.r2).toBeCloseTo(1, 8);
    // LIME's kernel: sqrt(exp(−d²/0.25²)), d the cosine distance to all-ones (1 − √(on/m) for 0/1 rows).
    const w = limeWeights(
      [
        [1, 1, 1, 1],
        [1, 0, 1, 0],
        [0, 0, 0, 0],
      ],
      0.25,
    );
    expect(w[0]).toBe(1);
    expect(w[1]).toBeCloseTo(Math.sqrt(Math.exp(-((1 - Math.SQRT1_2) ** 2) / 0.0625)), 10);
    expect(w[1]).toBeCloseTo(0.5034, 3);
    expect(w[2]).toBeCloseTo(Math.sqrt(Math.exp(-16)), 10);
    // The ridge penalty shrinks the coefficients towards zero (by a few percent at alpha 1).
    const ridge = limeFit(rows, y, 1);
    for (const j of [0, 3, 4]) {
      expect(Math.abs(ridge.coef[j])).toBeLessThan(Math.abs(coef[j]));
      expect(Math.abs(ridge.coef[j])).toBeGreaterThan(0.8 * Math.abs(coef[j]));
    }
  });

  it('LIME on a model linear in the segments gives each pixel its segment’s contribution', async () => {
    // 12×12 in 3×3 cells: 16 segments; segment s contributes 9·ws[s]·x (9 pixels of value x).
    const ws = Array.from({ length: 16 }, (_, s) => ((s * 7) % 16) / 16 - 0.4);
    const model = linearNet(12, 3, ws);
    const x = tf.fill([2, 12, 12, 1], 0.5) as tf.Tensor4D;
    const e = await lime.explain({
      model,
      input: x,
      target: [0, 1],
      options: { segments: 'grid', cell: 3, samples: 300, alpha: 1e-4, fill: 0, seed: 5 },
    });
    expect(e.signed).toBe(true);
    for (let i = 0; i < 2; i++) {
      const sign = i === 0 ? 1 : -1;
      const r2 = (e.meta.r2 as number[])[i];
      expect(r2).toBeGreaterThan(0.999999);
      for (let p = 0; p < 144; p++) {
        const s = Math.floor(p / 36) * 4 + Math.floor((p % 12) / 3);
        expect(e.maps[i][p]).toBeCloseTo(sign * 9 * ws[s] * 0.5, 3);
      }
      // Intercept: the output with everything filled with 0.
      expect((e.meta.intercept as number[])[i]).toBeCloseTo(0, 3);
    }
    const top = (e.meta.topPositive as number[][])[0];
    const byWeight = ws.map((w, s) => [w, s]).sort((a, b) => b[0] - a[0]);
    expect(top).toEqual(byWeight.slice(0, 5).map(([, s]) => s));
    expect((e.meta.topNegative as number[][])[1]).toEqual(top);
    expect(e.meta.segments).toEqual([16, 16]);
    x.dispose();
    model.dispose();
  });

  it('KernelSHAP coalition plan: full enumeration gives the Shapley kernel weights, sampling the rest', () => {
    // m = 4, budget 14 = 2⁴ − 2: every coalition of size 1..3 enumerated, weights ∝ (m−1)/(C(m,s)·s·(m−s)).
    const all = shapCoalitions(4, 14, 0);
    expect(all.rows.length).toBe(14);
    expect(new Set(all.rows.map((r) => r.join(''))).size).toBe(14);
    const kernel = (s: number) => 3 / ([1, 4, 6, 4][s] * s * (4 - s));
    const ratio = all.weights[0] / kernel(all.rows[0].reduce((a, b) => a + b, 0));
    all.rows.forEach((r, i) => {
      expect(all.weights[i]).toBeCloseTo(ratio * kernel(r.reduce((a, b) => a + b, 0)), 12);
    });
    expect(all.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // m = 12, budget 100: sizes 1 and 11 (24 rows) enumerated, the rest sampled in complementary pairs.
    const some = shapCoalitions(12, 100, 3);
    expect(some.rows.length).toBe(100);
    const sizes = some.rows.map((r) => r.reduce((a, b) => a + b, 0));
    expect(sizes.slice(0, 24).every((s) => s === 1 || s === 11)).toBe(true);
    expect(sizes.slice(24).every((s) => s >= 2 && s <= 10)).toBe(true);
    expect(some.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(Array.from(shapCoalitions(12, 100, 3).rows[60])).toEqual(Array.from(some.rows[60]));
  });

  it('KernelSHAP: exact Shapley values w_s·(x_s − fill) on a linear model, and efficiency on a nonlinear one', async () => {
    // 8×8 in 4×4 cells (4 segments): 14 coalitions enumerate everything, so the values are exact.
    const ws = [0.3, -0.5, 0.8, 0.1];
    const model = linearNet(8, 4, ws);
    const x = tf.tensor4d(
      Float32Array.from({ length: 64 }, (_, p) => 0.2 + (p % 5) / 10),
      [1, 8, 8, 1],
    );
    const xs = x.dataSync();
    const fill = 0.1;
    const e = await kernelShap.explain({
      model,
      input: x,
      target: 0,
      options: { segments: 'grid', cell: 4, fill, samples: 14 },
    });
    const exact = [0, 0, 0, 0];
    gridSegments(8, 8, 4).labels.forEach((s, p) => {
      exact[s] += ws[s] * (xs[p] - fill);
    });
    const phi = (e.meta.shapValues as number[][])[0];
    for (let s = 0; s < 4; s++) expect(phi[s]).toBeCloseTo(exact[s], 4);
    expect(e.maps[0][0]).toBeCloseTo(exact[0], 4);
    expect(e.maps[0][63]).toBeCloseTo(exact[3], 4);
    // With sampling (16 segments, 60 coalitions of 65534) a linear model is still fitted exactly.
    const ws16 = Array.from({ length: 16 }, (_, s) => Math.sin(s + 1));
    const lin16 = linearNet(12, 3, ws16);
    const x12 = tf.fill([1, 12, 12, 1], 0.5) as tf.Tensor4D;
    const e16 = await kernelShap.explain({
      model: lin16,
      input: x12,
      target: 0,
      options: { segments: 'grid', cell: 3, samples: 60, seed: 2 },
    });
    (e16.meta.shapValues as number[][])[0].forEach((v, s) => {
      expect(v).toBeCloseTo(9 * 0.5 * ws16[s], 4);
    });
    // A nonlinear softmax net: attributions add up to f(x) − f(all hidden).
    const net = softmaxNet();
    const xr = tf.tensor4d(randomImage(2 * 8 * 8 * 2, 7), [2, 8, 8, 2]);
    const en = await kernelShap.explain({
      model: net,
      input: xr,
      target: [1, 2],
      options: { segments: 'grid', cell: 2, samples: 200, fill: 'mean' },
    });
    for (let i = 0; i < 2; i++) {
      const fx = (en.meta.fx as number[])[i];
      const base = (en.meta.baseValue as number[])[i];
      const sum = (en.meta.attributionSum as number[])[i];
      expect(Math.abs(fx - base)).toBeGreaterThan(1e-3);
      expect(Math.abs(sum - (fx - base))).toBeLessThan(1e-6);
      expect(Math.abs((en.meta.efficiencyGap as number[])[i])).toBeLessThan(1e-6);
      const byPixels = en.maps[i].reduce((a, b) => a + b, 0) / 4; // each 2×2 segment covers 4 pixels
      expect(Math.abs(byPixels - (fx - base))).toBeLessThan(1e-3);
    }
    expect(en.meta.evaluations).toEqual([202, 202]);
    tf.dispose([x, x12, xr]);
    model.dispose();
    lin16.dispose();
    net.dispose();
  });

  it('Score-CAM puts the map where the target’s evidence is, per example and target', async () => {
    // Channel 0 of the input is bright in the top-left quadrant, channel 1 in the bottom-right;
    // class c = 20·mean(relu(x_c − 0.3)): only its own channel's quadrant matters to each class.
    const model = quadrantChannelNet();
    const img = new Float32Array(8 * 8 * 2);
    const r = rng(9);
    for (let p = 0; p < 64; p++) {
      const q = quadrant(p, 8, 4, 4);
      img[p * 2] = q === 0 ? 0.9 : 0.2 * r();
      img[p * 2 + 1] = q === 3 ? 0.9 : 0.2 * r();
    }
    const x = tf.tensor4d([...img, ...img], [2, 8, 8, 2]);
    for (const layer of ['c', undefined]) {
      const e = await scoreCam.explain({ model, input: x, target: [0, 1], layer });
      expect(e.layer).toBe(layer ?? 'pool');
      expect(e.signed).toBe(false);
      for (const [i, q] of [
        [0, 0],
        [1, 3],
      ]) {
        const m = e.maps[i];
        const total = m.reduce((a, b) => a + b, 0);
        const inside = m.reduce((a, v, p) => a + (quadrant(p, 8, 4, 4) === q ? v : 0), 0);
        // Bilinear upsampling from the 4×4 pool spreads some mass over the quadrant's border.
        expect(inside / total, `example ${i}, layer ${e.layer}`).toBeGreaterThan(layer ? 0.9 : 0.8);
        // Softmax over the two channels of the masked scores: the target's own channel wins.
        const w = (e.meta.channelWeights as number[][])[i];
        expect(w[0] + w[1]).toBeCloseTo(1, 5);
        expect(w[i]).toBeGreaterThan(0.9);
      }
    }
    // At the conv layer (8×8, no upsampling) the weights are exactly softmax([3, 0]): mean(relu) = 0.6·¼.
    const at = await scoreCam.explain({ model, input: x, target: [0, 1], layer: 'c' });
    const soft = Math.exp(3) / (Math.exp(3) + 1);
    expect((at.meta.channelWeights as number[][])[0][0]).toBeCloseTo(soft, 4);
    expect((at.meta.channelWeights as number[][])[1][1]).toBeCloseTo(soft, 4);
    expect(at.maps[0][0]).toBeCloseTo(soft * 0.6, 4);
    x.dispose();
    model.dispose();
  });

  it('registered after occlusion, deterministic per seed, and leak no tensors', async () => {
    expect(PERTURBATION_METHODS.map((m) => m.id)).toEqual(['occlusion', 'lime', 'kernel-shap', 'scorecam']);
    const model = softmaxNet();
    const x = tf.tensor4d(randomImage(2 * 8 * 8 * 2, 13), [2, 8, 8, 2]);
    const opts: Record<string, Record<string, unknown>> = {
      lime: { samples: 40, batch: 16, segments: 'slic', nSegments: 6 },
      'kernel-shap': { samples: 40, batch: 16, cell: 2, fill: 'mean' },
      scorecam: { batch: 3 },
    };
    for (const method of PERTURBATION_METHODS.filter((m) => m.id !== 'occlusion')) {
      const run = (seed: number) =>
        method.explain({ model, input: x, target: [0, 2], options: { ...opts[method.id], seed } });
      const first = await run(1);
      const before = tf.memory().numTensors;
      const again = await run(1);
      const other = await run(2);
      expect(tf.memory().numTensors, method.id).toBe(before);
      for (let i = 0; i < 2; i++) {
        expect(Array.from(again.maps[i]), method.id).toEqual(Array.from(first.maps[i]));
        expect(first.maps[i].every(Number.isFinite)).toBe(true);
        expect(first.maps[i].length).toBe(64);
      }
      // The sampling methods depend on the seed (Score-CAM has nothing random).
      const differs = first.maps.some((m, i) => m.some((v, p) => v !== other.maps[i][p]));
      expect(differs, method.id).toBe(method.id !== 'scorecam');
    }
    x.dispose();
    model.dispose();
  });
});
