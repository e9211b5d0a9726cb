// DeepLIFT and LRP against exact identities: DeepLIFT on a linear model is gradient × (x − x₀),
// and it is complete (Σ = f(x) − f(x₀)) on a relu net with max pooling; LRP-0 is gradient × input.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { deeplift } from '../src/methods/explain/deeplift.ts';
import { inputGradients } from '../src/methods/explain/input-gradients.ts';
import { lrp } from '../src/methods/explain/lrp.ts';

function rand(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s / 2 ** 32) * scale + shift;
  });
}

/** conv(6, relu, same) → maxpool → conv(8, relu) → avgpool → flatten → dense(4). */
function reluNet(bias = true): tf.LayersModel {
  const m = tf.sequential({ name: 'relu-net' });
  m.add(
    tf.layers.conv2d({
      inputShape: [10, 10, 2],
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      useBias: bias,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.3, seed: 9 }),
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      activation: 'relu',
      useBias: bias,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.3, seed: 8 }),
    }),
  );
  m.add(tf.layers.averagePooling2d({ poolSize: 3 }));
  m.add(tf.layers.flatten());
  m.add(
    tf.layers.dense({
      units: 4,
      useBias: bias,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
    }),
  );
  return m;
}

function linearNet(): tf.LayersModel {
  const m = tf.sequential({ name: 'linear' });
  m.add(tf.layers.flatten({ inputShape: [6, 6, 3] }));
  m.add(
    tf.layers.dense({
      units: 3,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
      biasInitializer: 'ones',
    }),
  );
  return m;
}

describe('DeepLIFT', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('equals gradient × (x − x₀) on a linear model, for every baseline kind', async () => {
    const model = linearNet();
    const x = tf.tensor4d(rand(2 * 108, 3, 2, -1), [2, 6, 6, 3]);
    const w = model.layers[1].getWeights()[0].arraySync() as number[][];
    const xv = x.arraySync();
    for (const baseline of ['zeros', 'blur', 'mean', 'noise'] as const) {
      const e = await deeplift.explain({ model, input: x, target: [0, 2], options: { baseline } });
      const ref = e.meta.baseline;
      expect(ref).toBe(baseline);
      // Recompute the reference the same way to compare: Σ_c w[p,c,t]·(x − x₀) per pixel.
      const { baselineFor } = await import('../src/methods/explain/baselines.ts');
      const b = baselineFor(x, baseline, 0);
      const bv = b.arraySync();
      b.dispose();
      for (let i = 0; i < 2; i++) {
        const t = [0, 2][i];
        for (let p = 0; p < 36; p++) {
          let s = 0;
          for (let c = 0; c < 3; c++)
            s += w[p * 3 + c][t] * (xv[i][Math.floor(p / 6)][p % 6][c] - bv[i][Math.floor(p / 6)][p % 6][c]);
          expect(e.maps[i][p]).toBeCloseTo(s, 5);
        }
      }
    }
    x.dispose();
    model.dispose();
  });

  it('is complete on a relu net with max and average pooling: Σ = f(x) − f(x₀) within 1e-4', async () => {
    const model = reluNet();
    const x = tf.tensor4d(rand(3 * 200, 7, 2, -0.5), [3, 10, 10, 2]);
    const before = tf.memory().numTensors;
    for (const baseline of ['zeros', 'blur', 'noise'] as const) {
      const e = await deeplift.explain({ model, input: x, target: [0, 1, 3], options: { baseline } });
      const sums = e.meta.attributionSum as number[];
      const diffs = e.meta.scoreDifference as number[];
      for (let i = 0; i < 3; i++) {
        expect(Math.abs(diffs[i])).toBeGreaterThan(1e-3);
        expect(Math.abs(sums[i] - diffs[i])).toBeLessThan(1e-4);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });
});

/** Per-pixel channel sums of gradient × input, [N][H·W]. */
function gradTimesInput(model: tf.LayersModel, x: tf.Tensor4D, targets: number[]): Float32Array[] {
  const g = tf.tidy(() => tf.sum(tf.mul(inputGradients(model, x, targets), x), 3));
  const [n, h, w] = g.shape;
  const d = g.dataSync() as Float32Array;
  g.dispose();
  return Array.from({ length: n }, (_, i) => d.slice(i * h * w, (i + 1) * h * w));
}

describe('LRP', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('ε → 0 is gradient × input: on a linear model and on a relu net with biases and pooling', async () => {
    for (const model of [linearNet(), reluNet(true)]) {
      const shape = model.inputs[0].shape.slice(1) as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor4d(rand(2 * n, 5, 2, -0.6), [2, ...shape] as [number, number, number, number]);
      const e = await lrp.explain({
        model,
        input: x,
        target: [1, 2],
        options: { rule: 'epsilon', epsilon: 0, firstLayer: 'same' },
      });
      const gx = gradTimesInput(model, x, [1, 2]);
      for (let i = 0; i < 2; i++)
        for (let p = 0; p < gx[i].length; p++) expect(e.maps[i][p]).toBeCloseTo(gx[i][p], 4);
      x.dispose();
      model.dispose();
    }
  });

  it('conserves the logit without biases (ε small), for ε, αβ and z⁺ / w² first layers', async () => {
    const model = reluNet(false);
    const x = tf.tensor4d(rand(3 * 200, 17, 2, -0.5), [3, 10, 10, 2]);
    const before = tf.memory().numTensors;
    const cases = [
      { rule: 'epsilon', epsilon: 1e-6, firstLayer: 'same' },
      { rule: 'epsilon', epsilon: 1e-6, firstLayer: 'zplus' },
      { rule: 'epsilon', epsilon: 1e-6, firstLayer: 'w2' },
      { rule: 'alpha-beta', alpha: 1, epsilon: 1e-6, firstLayer: 'zplus' },
      { rule: 'epsilon-plus', epsilon: 1e-6, firstLayer: 'zplus' },
      { rule: 'alpha-beta', alpha: 2, epsilon: 1e-6, firstLayer: 'w2' },
    ] as const;
    for (const options of cases) {
      const e = await lrp.explain({ model, input: x, target: [0, 2, 3], options });
      const sums = e.meta.relevanceSum as number[];
      const logits = e.meta.logit as number[];
      for (let i = 0; i < 3; i++) {
        expect(Math.abs(logits[i])).toBeGreaterThan(1e-2);
        expect(Math.abs(sums[i] - logits[i])).toBeLessThan(1e-3 * Math.max(1, Math.abs(logits[i])));
        expect(Math.abs(e.maps[i].reduce((a, b) => a + b, 0) - sums[i])).toBeLessThan(1e-3);
      }
    }
    // ε eats relevance where |z| is small: a large ε breaks conservation measurably.
    const big = await lrp.explain({ model, input: x, target: [0, 2, 3], options: { epsilon: 10 } });
    expect(Math.max(...(big.meta.conservationGap as number[]).map(Math.abs))).toBeGreaterThan(1e-2);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('folds batch norm into the conv / depthwise conv before it: same maps as the pre-folded model', async () => {
    const bnModel = foldNet(true);
    const folded = foldNet(false);
    // Fold by hand: W' = W·s, b' = b·s + t with s = γ/√(σ² + ε), t = β − μ·s.
    const byName = (m: tf.LayersModel, n: string) => m.getLayer(n);
    const bnConst = (bn: tf.layers.Layer) => {
      const [g, b, mu, v] = bn.getWeights().map((w) => w.arraySync() as number[]);
      const s = g.map((gi, i) => gi / Math.sqrt(v[i] + 1e-3));
      return { s, t: b.map((bi, i) => bi - mu[i] * s[i]) };
    };
    const c = bnConst(byName(bnModel, 'bn1'));
    const [w1, b1] = byName(bnModel, 'c1')
      .getWeights()
      .map((w) => w.arraySync() as any);
    byName(folded, 'c1').setWeights([
      tf.tensor4d((w1 as number[][][][]).map((r) => r.map((q) => q.map((o) => o.map((v, k) => v * c.s[k]))))),
      tf.tensor1d((b1 as number[]).map((v, k) => v * c.s[k] + c.t[k])),
    ]);
    const d = bnConst(byName(bnModel, 'bn2'));
    const [w2] = byName(bnModel, 'd1')
      .getWeights()
      .map((w) => w.arraySync() as number[][][][]);
    byName(folded, 'd1').setWeights([
      tf.tensor4d(w2.map((r) => r.map((q) => q.map((o, k) => o.map((v) => v * d.s[k]))))),
      tf.tensor1d(d.t),
    ]);
    byName(folded, 'out').setWeights(byName(bnModel, 'out').getWeights());
    const x = tf.tensor4d(rand(2 * 8 * 8 * 3, 23, 2, -1), [2, 8, 8, 3]);
    for (const options of [{}, { rule: 'alpha-beta', alpha: 2, firstLayer: 'w2' }] as const) {
      const a = await lrp.explain({ model: bnModel, input: x, target: [0, 1], options });
      const b = await lrp.explain({ model: folded, input: x, target: [0, 1], options });
      expect(Math.max(...a.maps[0].map(Math.abs))).toBeGreaterThan(1e-3);
      for (let i = 0; i < 2; i++)
        for (let p = 0; p < 64; p++) expect(a.maps[i][p]).toBeCloseTo(b.maps[i][p], 4);
    }
    x.dispose();
    bnModel.dispose();
    folded.dispose();
  });

  it('names the layer class it cannot handle', async () => {
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: 'tanh', name: 'c' }),
    );
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 2 }));
    const x = tf.zeros([1, 6, 6, 1]) as tf.Tensor4D;
    await expect(lrp.explain({ model: m, input: x, target: 0 })).rejects.toThrow(
      /LRP has no rule for the 'tanh' activation of layer 'c' \(Conv2D\)/,
    );
    const u = tf.sequential();
    u.add(tf.layers.flatten({ inputShape: [6, 6, 1] }));
    u.add(tf.layers.repeatVector({ n: 2, name: 'rv' }));
    u.add(tf.layers.flatten());
    u.add(tf.layers.dense({ units: 2 }));
    await expect(lrp.explain({ model: u, input: x, target: 0 })).rejects.toThrow(
      /LRP cannot handle layer 'rv' \(class RepeatVector\)/,
    );
    x.dispose();
    m.dispose();
    u.dispose();
  });
});

/** conv(bias) → BN → relu → depthwise(no bias) → BN → relu6 → GAP → dense; or the same with each BN pre-folded. */
function foldNet(withBn: boolean): tf.LayersModel {
  const m = tf.sequential({ name: withBn ? 'bn' : 'folded' });
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  m.add(
    tf.layers.conv2d({
      inputShape: [8, 8, 3],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      name: 'c1',
      kernelInitializer: init(1),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: 2 }),
      activation: withBn ? 'linear' : 'relu',
    }),
  );
  const bn = (name: string, seed: number) => {
    const layer = tf.layers.batchNormalization({ name, epsilon: 1e-3 });
    m.add(layer);
    const r = (lo: number, hi: number, k: number) => tf.randomUniform([4], lo, hi, 'float32', seed + k);
    layer.setWeights([r(0.5, 2, 0), r(-0.5, 0.5, 1), r(-0.5, 0.5, 2), r(0.2, 3, 3)]);
  };
  if (withBn) {
    bn('bn1', 10);
    m.add(tf.layers.activation({ activation: 'relu' }));
  }
  m.add(
    tf.layers.depthwiseConv2d({
      kernelSize: 3,
      padding: 'same',
      name: 'd1',
      useBias: !withBn,
      depthwiseInitializer: init(3),
    }),
  );
  if (withBn) bn('bn2', 20);
  m.add(tf.layers.activation({ activation: 'relu6' }));
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: 2, name: 'out', kernelInitializer: init(4) }));
  return m;
}
