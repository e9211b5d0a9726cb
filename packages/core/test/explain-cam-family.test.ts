// The CAM family over the CAM base, against identities that hold exactly on constructed networks:
// on a GAP + dense head the gradient at the layer is W[k,c]/hw everywhere, so Ablation-CAM's channel
// drops, EigenGrad-CAM's projection, Finer-CAM's score difference and the smoothing options all have
// closed forms; FEM and Sobel are checked on hand-computed cases, FullGrad by its completeness.
import * as tf from '@tensorflow/tfjs';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { firstComponent } from '../src/methods/explain/cam-base.ts';
import { CAM_VARIANTS } from '../src/methods/explain/cam-variants.ts';
import { CONTROL_METHODS } from '../src/methods/explain/controls.ts';
import { explainMethods, getExplainMethod } from '../src/methods/explain/registry.ts';

function rand(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return lo + (s / 2 ** 32) * (hi - lo);
  });
}

/** conv(8, relu, same) 'conv' → GAP → dense(4): Grad-CAM = CAM, gradient W[k,c]/81 at every position. */
function gapNet(kernel?: tf.Tensor4D): tf.LayersModel {
  const m = tf.sequential({ name: 'gap' });
  m.add(
    tf.layers.conv2d({
      inputShape: [9, 9, 2],
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
      biasInitializer: tf.initializers.constant({ value: 0.2 }),
    }),
  );
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(
    tf.layers.dense({
      units: 4,
      name: 'out',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
      biasInitializer: tf.initializers.constant({ value: 0.3 }),
    }),
  );
  if (kernel) m.getLayer('conv').setWeights([kernel, m.getLayer('conv').getWeights()[1]]);
  return m;
}

/** The GAP net's layer activations [n][81][8], dense weights [8][4], bias [4] and scores [n][4]. */
function readGap(model: tf.LayersModel, x: tf.Tensor4D) {
  return tf.tidy(() => {
    const a = tf.model({ inputs: model.inputs, outputs: model.getLayer('conv').output as tf.SymbolicTensor });
    const acts = (a.predict(x) as tf.Tensor).reshape([x.shape[0], 81, 8]).arraySync() as number[][][];
    const [w, b] = model.getLayer('out').getWeights();
    return {
      acts,
      w: w.arraySync() as number[][],
      b: b.arraySync() as number[],
      y: (model.predict(x) as tf.Tensor).arraySync() as number[][],
    };
  });
}

const relu = (v: number) => Math.max(0, v);

function expectClose(got: Float32Array | number[], want: number[], tol: number) {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1e-6, ...want.map(Math.abs));
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]) / scale).toBeLessThan(tol);
}

describe('CAM family and controls', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('registers every variant and control once; controls are marked, CAM variants take the base options', () => {
    const ids = explainMethods().map((m) => m.id);
    for (const id of [
      'gradcam-elementwise',
      'eigengradcam',
      'finercam',
      'ablationcam',
      'fem',
      'fullgrad',
      'randomcam',
      'sobel',
    ])
      expect(ids.filter((x) => x === id)).toHaveLength(1);
    expect(
      explainMethods()
        .filter((m) => m.control)
        .map((m) => m.id),
    ).toEqual(['randomcam', 'sobel']);
    for (const m of CAM_VARIANTS) expect(m.cam).toBe(true);
    expect(getExplainMethod('gradcam').cam).toBe(true);
    expect(getExplainMethod('sobel').cam).toBeUndefined();
  });

  it('Ablation-CAM: channel k weighs W[k,c]·mean(A_k)/|y| on a linear GAP head, whatever the batch', async () => {
    const model = gapNet();
    const x = tf.tensor4d(rand(2 * 81 * 2, 7, -1, 1), [2, 9, 9, 2]);
    const targets = [1, 3];
    const { acts, w, y } = readGap(model, x);
    const m = getExplainMethod('ablationcam');
    const e = await m.explain({ model, input: x, target: targets, options: { batch: 3 } });
    const one = await m.explain({ model, input: x, target: targets, options: { batch: 1 } });
    const weights = e.meta.channelWeights as number[][];
    for (let i = 0; i < 2; i++) {
      const c = targets[i];
      const want = Array.from(
        { length: 8 },
        (_, k) => (w[k][c] * acts[i].reduce((s, p) => s + p[k], 0)) / 81 / Math.abs(y[i][c]),
      );
      expectClose(weights[i], want, 1e-4);
      expectClose((one.meta.channelWeights as number[][])[i], want, 1e-4);
      const map = acts[i].map((p) => relu(p.reduce((s, a, k) => s + a * want[k], 0)));
      expectClose(e.maps[i], map, 1e-4);
    }
    tf.dispose([x]);
    model.dispose();
  });

  it('Ablation-CAM falls back to repeating the input when a later layer cannot broadcast (concatenation)', async () => {
    const input = tf.input({ shape: [6, 6, 1] });
    const a = tf.layers
      .conv2d({
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'a',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      })
      .apply(input) as tf.SymbolicTensor;
    const b = tf.layers
      .conv2d({
        filters: 2,
        kernelSize: 1,
        name: 'b',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      })
      .apply(input) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    const flat = tf.layers.flatten().apply(cat) as tf.SymbolicTensor;
    const out = tf.layers
      .dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
      .apply(flat) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const x = tf.tensor4d(rand(36, 3), [1, 6, 6, 1]);
    const m = getExplainMethod('ablationcam');
    const batched = await m.explain({ model, input: x, target: 0, layer: 'a', options: { batch: 3 } });
    const single = await m.explain({ model, input: x, target: 0, layer: 'a', options: { batch: 1 } });
    expectClose(
      (batched.meta.channelWeights as number[][])[0],
      (single.meta.channelWeights as number[][])[0],
      1e-5,
    );
    expect((batched.meta.channelWeights as number[][])[0].some((v) => Math.abs(v) > 1e-3)).toBe(true);
    x.dispose();
    model.dispose();
  });

  it('EigenGrad-CAM is the first singular direction of the centred G·A (SVD computed here), signed like Σ G·A; Grad-CAM with eigen-smooth equals it on a GAP head', async () => {
    const model = gapNet();
    const x = tf.tensor4d(rand(81 * 2, 9, -1, 1), [1, 9, 9, 2]);
    const c = 2;
    const { acts, w } = readGap(model, x);
    const ga = acts[0].map((p) => p.map((a, k) => (a * w[k][c]) / 81));
    const mean = Array.from({ length: 8 }, (_, k) => ga.reduce((s, p) => s + p[k], 0) / 81);
    const svd = new SingularValueDecomposition(new Matrix(ga.map((p) => p.map((v, k) => v - mean[k]))));
    const v = svd.rightSingularVectors.getColumn(0);
    let proj = ga.map((p) => p.reduce((s, g, k) => s + (g - mean[k]) * v[k], 0));
    const dot = proj.reduce((s, q, i) => s + q * ga[i].reduce((a, b) => a + b, 0), 0);
    if (dot < 0) proj = proj.map((q) => -q);
    const eg = await getExplainMethod('eigengradcam').explain({ model, input: x, target: c });
    expectClose(eg.maps[0], proj.map(relu), 1e-3);
    const smooth = await getExplainMethod('gradcam').explain({
      model,
      input: x,
      target: c,
      options: { eigenSmooth: true },
    });
    expectClose(smooth.maps[0], proj.map(relu), 1e-3);
    // Not a no-op: the plain Grad-CAM map differs from its projection here.
    const plain = await getExplainMethod('gradcam').explain({ model, input: x, target: c });
    expect(Math.max(...plain.maps[0].map((p, i) => Math.abs(p - smooth.maps[0][i])))).toBeGreaterThan(1e-3);
    x.dispose();
    model.dispose();
  });

  it('Finer-CAM with one contrast class is Grad-CAM of the logit difference; by default it contrasts the closest logits', async () => {
    const model = gapNet();
    const x = tf.tensor4d(rand(81 * 2, 13, -1, 1), [1, 9, 9, 2]);
    const { acts, w, y } = readGap(model, x);
    const [c, j] = [0, 2];
    const e = await getExplainMethod('finercam').explain({
      model,
      input: x,
      target: c,
      options: { classes: [j] },
    });
    const want = acts[0].map((p) => relu(p.reduce((s, a, k) => s + (a * (w[k][c] - w[k][j])) / 81, 0)));
    expect(Math.max(...want)).toBeGreaterThan(1e-3);
    expectClose(e.maps[0], want, 1e-4);
    // Default: the 3 classes whose logits are nearest the target's, nearest first.
    const d = await getExplainMethod('finercam').explain({ model, input: x, target: c });
    const order = [1, 2, 3].sort((a, b) => Math.abs(y[0][a] - y[0][c]) - Math.abs(y[0][b] - y[0][c]));
    expect((d.meta.contrastClasses as number[][])[0]).toEqual(order);
    await expect(
      getExplainMethod('finercam').explain({ model, input: x, target: c, options: { classes: [c] } }),
    ).rejects.toThrow(/contrast class 0 must be a class 0–3 other than the target 0/);
    x.dispose();
    model.dispose();
  });

  it('FEM keeps each channel’s responses above μ + kσ, weighted by μ (hand-computed)', async () => {
    // A 1×1 identity conv: the layer's activations are the input itself.
    const input = tf.input({ shape: [4, 4, 2] });
    const id = tf.layers
      .conv2d({ filters: 2, kernelSize: 1, name: 'id', useBias: false })
      .apply(input) as tf.SymbolicTensor;
    const g = tf.layers.globalAveragePooling2d({}).apply(id) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(g) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    model.getLayer('id').setWeights([tf.tensor4d([1, 0, 0, 1], [1, 1, 2, 2])]);
    // Channel 0: one spike of 8 at pixel 5, zeros elsewhere: μ = 0.5, σ = √(64/16 − 0.25) ≈ 1.94, μ+2σ ≈ 4.37.
    // Channel 1: constant 3: σ = 0, nothing lies strictly above μ.
    const data = new Float32Array(32);
    for (let p = 0; p < 16; p++) data[p * 2 + 1] = 3;
    data[5 * 2] = 8;
    const x = tf.tensor4d(data, [1, 4, 4, 2]);
    const e = await getExplainMethod('fem').explain({ model, input: x, target: 0, layer: 'id' });
    expect(Array.from(e.maps[0])).toEqual(Array.from({ length: 16 }, (_, p) => (p === 5 ? 0.5 : 0)));
    // k = 0: every above-mean position; channel 0's spike (μ = 0.5) only, channel 1 still none.
    const k0 = await getExplainMethod('fem').explain({
      model,
      input: x,
      target: 0,
      layer: 'id',
      options: { k: 0 },
    });
    expect(Array.from(k0.maps[0])).toEqual(Array.from({ length: 16 }, (_, p) => (p === 5 ? 0.5 : 0)));
    x.dispose();
    model.dispose();
  });

  it('Sobel matches a hand-computed 3×3 case (borders reflected without repeating the edge)', async () => {
    const model = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [3, 3, 1] }), tf.layers.dense({ units: 2 })],
    });
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 10], [1, 3, 3, 1]);
    const e = await getExplainMethod('sobel').explain({ model, input: x, target: 0 });
    // Centre: Gx = (3−1) + 2(6−4) + (10−7) = 9, Gy = (7−1) + 2(8−2) + (10−3) = 25 → ½·9 + ½·25 = 17.
    // Corners and the middle of each edge see a mirrored neighbourhood: one gradient cancels.
    // (0,1): Gx = (6−4) + 2(3−1) + (6−4) = 8, Gy = 0 → 4.  (1,0): Gy = (8−2)+2(7−1)+(8−2) = 24, Gx = 0 → 12.
    // (1,2): Gy = (8−2) + 2(10−3) + (8−2) = 26 → 13.  (2,1): Gx = (6−4) + 2(10−7) + (6−4) = 10 → 5.
    expect(Array.from(e.maps[0])).toEqual([0, 4, 0, 12, 17, 13, 0, 5, 0]);
    expect(getExplainMethod('sobel').control).toBe(true);
    x.dispose();
    model.dispose();
  });

  it('aug-smooth of a flip-symmetric model is the plain map; zoom views map back onto the same pixels', async () => {
    // Kernels symmetric under a horizontal flip: the conv, GAP and dense are flip-equivariant.
    const k = rand(3 * 3 * 2 * 8, 17, -0.5, 0.5);
    for (let r = 0; r < 3; r++)
      for (let i = 0; i < 2 * 8; i++) k[(r * 3 + 2) * 16 + i] = k[(r * 3 + 0) * 16 + i];
    const kernel = tf.tensor4d(k, [3, 3, 2, 8]);
    const model = gapNet(kernel);
    const x = tf.tensor4d(rand(81 * 2, 19, -1, 1), [1, 9, 9, 2]);
    const gc = getExplainMethod('gradcam');
    const plain = await gc.explain({ model, input: x, target: 1 });
    const flip = await gc.explain({
      model,
      input: x,
      target: 1,
      options: { augSmooth: true, augScales: [1] },
    });
    expect(flip.meta.augmentations).toBe(2);
    expectClose(flip.maps[0], Array.from(plain.maps[0]), 1e-5);
    // A non-symmetric model: the flipped view disagrees, so the option is not a no-op.
    const asym = gapNet();
    const p2 = await gc.explain({ model: asym, input: x, target: 1 });
    const f2 = await gc.explain({
      model: asym,
      input: x,
      target: 1,
      options: { augSmooth: true, augScales: [1] },
    });
    expect(Math.max(...p2.maps[0].map((v, i) => Math.abs(v - f2.maps[0][i])))).toBeGreaterThan(1e-3);
    // A map equal to the input (1×1 identity conv, Grad-CAM weight constant): a 2× zoom, sampled at whole
    // pixels about the centre pixel, maps back exactly onto the pixels it covers.
    const input = tf.input({ shape: [9, 9, 1] });
    const id = tf.layers
      .conv2d({ filters: 1, kernelSize: 1, name: 'id', useBias: false })
      .apply(input) as tf.SymbolicTensor;
    const g = tf.layers.globalAveragePooling2d({}).apply(id) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ units: 2 });
    const idModel = tf.model({ inputs: input, outputs: dense.apply(g) as tf.SymbolicTensor });
    idModel.getLayer('id').setWeights([tf.ones([1, 1, 1, 1])]);
    dense.setWeights([tf.tensor2d([[2, -1]]), tf.zeros([2])]);
    const xi = tf.tensor4d(rand(81, 23, 0.1, 1), [1, 9, 9, 1]);
    const target = 0;
    const base = await gc.explain({ model: idModel, input: xi, target, layer: 'id' });
    const zoomed = await gc.explain({
      model: idModel,
      input: xi,
      target,
      layer: 'id',
      options: { augSmooth: true, augScales: [1, 2] },
    });
    expectClose(
      base.maps[0],
      Array.from(xi.dataSync(), (v) => (2 * v) / 81),
      1e-5,
    );
    expectClose(zoomed.maps[0], Array.from(base.maps[0]), 1e-4);
    tf.dispose([x, xi, kernel]);
    model.dispose();
    asym.dispose();
    idModel.dispose();
  });

  it('fusion of one layer is that layer; of two, the rule over max-scaled maps times their mean peak', async () => {
    const m = tf.sequential({ name: 'two' });
    m.add(
      tf.layers.conv2d({
        inputShape: [8, 8, 1],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'c1',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 31 }),
        biasInitializer: 'ones',
      }),
    );
    m.add(
      tf.layers.conv2d({
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'c2',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 32 }),
        biasInitializer: 'ones',
      }),
    );
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 33 }) }));
    const x = tf.tensor4d(rand(64, 29), [1, 8, 8, 1]);
    const gc = getExplainMethod('gradcam');
    const c1 = await gc.explain({ model: m, input: x, target: 1, layer: 'c1' });
    const c2 = await gc.explain({ model: m, input: x, target: 1, layer: 'c2' });
    const one = await gc.explain({ model: m, input: x, target: 1, layer: 'c1', options: { fusion: 'max' } });
    expect(Array.from(one.maps[0])).toEqual(Array.from(c1.maps[0]));
    const [p1, p2] = [Math.max(...c1.maps[0]), Math.max(...c2.maps[0])];
    expect(Math.min(p1, p2)).toBeGreaterThan(1e-4);
    for (const rule of ['mean', 'max', 'min'] as const) {
      const f = await gc.explain({
        model: m,
        input: x,
        target: 1,
        layer: 'c1, c2',
        options: { fusion: rule },
      });
      expect(f.layer).toBe('c1,c2');
      const comb = (a: number, b: number) =>
        rule === 'mean' ? (a + b) / 2 : rule === 'max' ? Math.max(a, b) : Math.min(a, b);
      const want = Array.from(c1.maps[0], (v, i) => comb(v / p1, c2.maps[0][i] / p2) * ((p1 + p2) / 2));
      expectClose(f.maps[0], want, 1e-4);
    }
    await expect(
      gc.explain({ model: m, input: x, target: 1, options: { fusion: 'sum' as 'mean' } }),
    ).rejects.toThrow(/fusion must be one of mean, max, min, got 'sum'/);
    await expect(
      getExplainMethod('fullgrad').explain({ model: m, input: x, target: 1, layer: 'c1' }),
    ).rejects.toThrow(/fullgrad reads every layer: it takes no layer/);
    x.dispose();
    m.dispose();
  });

  it('FullGrad: input-gradient × input plus every bias term adds up to the score (conv with fused ReLU, batch norm, dense)', async () => {
    const m = tf.sequential({ name: 'fg' });
    m.add(
      tf.layers.conv2d({
        inputShape: [8, 8, 2],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'c1',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 41 }),
        biasInitializer: tf.initializers.constant({ value: 0.1 }),
      }),
    );
    m.add(tf.layers.batchNormalization({ name: 'bn' }));
    m.add(tf.layers.activation({ activation: 'relu' }));
    m.add(
      tf.layers.conv2d({
        filters: 3,
        kernelSize: 3,
        strides: 2,
        activation: 'relu',
        name: 'c2',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 42 }),
        biasInitializer: tf.initializers.constant({ value: -0.05 }),
      }),
    );
    m.add(tf.layers.flatten());
    m.add(
      tf.layers.dense({
        units: 3,
        name: 'logits',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 43 }),
        biasInitializer: tf.initializers.constant({ value: 0.2 }),
      }),
    );
    // Non-trivial batch-norm statistics: its effective bias β − μγ/√(σ²+ε) is not β.
    m.getLayer('bn').setWeights([
      tf.tensor1d([1.5, 0.5, 2, 1]),
      tf.tensor1d([0.1, -0.2, 0.3, 0]),
      tf.tensor1d([0.2, 0.1, -0.1, 0.3]),
      tf.tensor1d([0.5, 2, 1, 0.25]),
    ]);
    const x = tf.tensor4d(rand(2 * 128, 37, -1, 1), [2, 8, 8, 2]);
    const e = await getExplainMethod('fullgrad').explain({ model: m, input: x, target: [0, 2] });
    const y = tf.tidy(() => m.predict(x) as tf.Tensor).arraySync() as number[][];
    const gaps = e.meta.completenessGap as number[];
    expect(e.meta.biasLayers).toBe(4);
    expect(e.meta.spatialBiasLayers).toBe(3);
    for (const [i, c] of [0, 2].entries()) {
      expect(Math.abs(y[i][c])).toBeGreaterThan(1e-2);
      expect(Math.abs(gaps[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(y[i][c])));
    }
    expect(e.maps[0].every((v) => v >= 0)).toBe(true);
    expect(e.layer).toBeUndefined();
    x.dispose();
    m.dispose();
  });

  it('a projection of non-finite activations is a NaN map for that example only, not an exception', async () => {
    const good = Array.from({ length: 2 * 2 * 3 }, (_, i) => Math.sin(i + 1));
    const bad = good.map((v, i) => (i === 4 ? Number.NaN : v));
    const t = tf.tensor4d([...bad, ...good], [2, 2, 2, 3]);
    const m = await firstComponent(t);
    const v = await m.data();
    tf.dispose([t, m]);
    expect(Array.from(v.slice(0, 4)).every(Number.isNaN)).toBe(true);
    expect(Array.from(v.slice(4)).every(Number.isFinite)).toBe(true);
  });

  it('RandomCAM is seeded: the same seed gives the same map, another seed another', async () => {
    const model = gapNet();
    const x = tf.tensor4d(rand(81 * 2, 43, -1, 1), [1, 9, 9, 2]);
    const r = getExplainMethod('randomcam');
    const a = await r.explain({ model, input: x, target: 0, options: { seed: 5 } });
    const b = await r.explain({ model, input: x, target: 3, options: { seed: 5 } });
    const c = await r.explain({ model, input: x, target: 0, options: { seed: 6 } });
    expect(Array.from(a.maps[0])).toEqual(Array.from(b.maps[0]));
    expect(Math.max(...a.maps[0].map((v, i) => Math.abs(v - c.maps[0][i])))).toBeGreaterThan(1e-4);
    x.dispose();
    model.dispose();
  });

  it('leaves no tensors behind, with every option, across repeated calls', async () => {
    const model = gapNet();
    const x = tf.tensor4d(rand(2 * 81 * 2, 47, -1, 1), [2, 9, 9, 2]);
    const run = async () => {
      for (const m of [...CAM_VARIANTS, ...CONTROL_METHODS, getExplainMethod('gradcam')]) {
        await m.explain({ model, input: x, target: [0, 1] });
        if (m.cam)
          await m.explain({
            model,
            input: x,
            target: [0, 1],
            ...(m.needsLayer ? { layer: 'conv,conv' } : {}),
            options: { augSmooth: true, augScales: [0.8, 1], eigenSmooth: true, batch: 5 },
          });
      }
    };
    await run();
    const before = tf.memory().numTensors;
    await run();
    await run();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });
});
