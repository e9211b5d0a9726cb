// Explanation methods against known identities: IG completeness, Grad-CAM = CAM on a GAP head,
// saliency = finite differences, occlusion finds the only pixels a model reads, no tensor leaks.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { CAM_METHODS } from '../src/methods/explain/cam-core.ts';
import { integratedGradients, saliency, smoothgrad } from '../src/methods/explain/input-gradients.ts';
import { occlusion } from '../src/methods/explain/occlusion.ts';
import { explainMethods, getExplainMethod } from '../src/methods/explain/registry.ts';

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s / 2 ** 32) * scale;
  });
}

/** conv(6, relu, same) → maxpool → conv(8, relu) → flatten → dense(4): linear scores. */
function smallNet(): tf.LayersModel {
  const m = tf.sequential({ name: 'small' });
  m.add(
    tf.layers.conv2d({
      inputShape: [10, 10, 2],
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'c1',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      biasInitializer: 'ones',
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }));
  m.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      activation: 'relu',
      name: 'c2',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  m.add(tf.layers.flatten({ name: 'f' }));
  m.add(
    tf.layers.dense({ units: 4, name: 'out', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
  );
  return m;
}

/** conv(8, relu, same) → global average pooling → dense(3): the network CAM is defined on. */
function gapNet(): tf.LayersModel {
  const m = tf.sequential({ name: 'gap' });
  m.add(
    tf.layers.conv2d({
      inputShape: [9, 9, 1],
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
      biasInitializer: 'ones',
    }),
  );
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(
    tf.layers.dense({ units: 3, name: 'out', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
  );
  return m;
}

describe('explanation methods', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('integrated gradients are complete: attributions sum to f(x) − f(baseline) within 1%', async () => {
    const model = smallNet();
    const x = tf.tensor4d(rand(2 * 10 * 10 * 2, 11), [2, 10, 10, 2]);
    for (const rule of ['middle', 'trapezoid', 'gauss-legendre'] as const) {
      const e = await integratedGradients.explain({
        model,
        input: x,
        target: [1, 3],
        options: { steps: 128, rule },
      });
      const sums = e.meta.attributionSum as number[];
      const diffs = e.meta.scoreDifference as number[];
      for (let i = 0; i < 2; i++) {
        expect(Math.abs(diffs[i])).toBeGreaterThan(1e-3);
        expect(Math.abs(sums[i] - diffs[i]) / Math.abs(diffs[i])).toBeLessThan(0.01);
        // The map is the per-pixel channel sum of the attributions: it adds up to the same total.
        expect(Math.abs(e.maps[i].reduce((a, b) => a + b, 0) - sums[i])).toBeLessThan(
          1e-3 * Math.max(1, Math.abs(sums[i])),
        );
      }
    }
    // Too few steps break completeness measurably: the reported delta is real.
    const coarse = await integratedGradients.explain({
      model,
      input: x,
      target: [1, 3],
      options: { steps: 1, rule: 'left' },
    });
    expect(Math.max(...(coarse.meta.convergenceDelta as number[]).map(Math.abs))).toBeGreaterThan(1e-3);
    // Steps batched into one gradient pass (any batch, uneven last pass) give the one-step-at-a-time maps.
    const before = tf.memory().numTensors;
    const one = await integratedGradients.explain({
      model,
      input: x,
      target: [1, 3],
      options: { steps: 7, batch: 1, rule: 'gauss-legendre' },
    });
    for (const batch of [2, 5, 64]) {
      const many = await integratedGradients.explain({
        model,
        input: x,
        target: [1, 3],
        options: { steps: 7, batch, rule: 'gauss-legendre' },
      });
      for (let i = 0; i < 2; i++)
        for (let p = 0; p < one.maps[i].length; p++)
          expect(Math.abs(many.maps[i][p] - one.maps[i][p])).toBeLessThan(
            1e-5 * (1 + Math.abs(one.maps[i][p])),
          );
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('Grad-CAM equals CAM (Σₖ W[k,c]·Aₖ) up to a positive scale on a GAP + dense network', async () => {
    const model = gapNet();
    const x = tf.tensor4d(rand(2 * 81, 21), [2, 9, 9, 1]);
    const targets = [0, 2];
    const [acts, w] = tf.tidy(() => {
      const a = tf
        .model({ inputs: model.inputs, outputs: model.getLayer('conv').output as tf.SymbolicTensor })
        .predict(x) as tf.Tensor;
      return [
        a.arraySync() as number[][][][],
        model.getLayer('out').getWeights()[0].arraySync() as number[][],
      ];
    });
    const gradcam = await getExplainMethod('gradcam').explain({ model, input: x, target: targets });
    const hires = await getExplainMethod('hirescam').explain({ model, input: x, target: targets });
    expect(gradcam.layer).toBe('conv');
    for (let i = 0; i < 2; i++) {
      const cam = new Float32Array(81);
      for (let p = 0; p < 81; p++) {
        let s = 0;
        for (let k = 0; k < 8; k++) s += w[k][targets[i]] * acts[i][Math.floor(p / 9)][p % 9][k];
        cam[p] = Math.max(0, s);
      }
      for (const e of [gradcam, hires]) {
        const m = e.maps[i];
        const k = m.indexOf(Math.max(...m));
        const scale = m[k] / cam[k];
        expect(scale).toBeGreaterThan(0);
        for (let p = 0; p < 81; p++) expect(m[p]).toBeCloseTo(cam[p] * scale, 4);
      }
    }
    x.dispose();
    model.dispose();
  });

  it('saliency equals |finite differences| of the target score', async () => {
    const model = smallNet();
    const xs = rand(10 * 10 * 2, 31);
    const x = tf.tensor4d(xs, [1, 10, 10, 2]);
    const e = await saliency.explain({ model, input: x, target: 2 });
    const f = (v: Float32Array) =>
      tf.tidy(() => (model.predict(tf.tensor4d(v, [1, 10, 10, 2])) as tf.Tensor).dataSync()[2]);
    const h = 1e-2;
    for (const p of [0, 23, 47, 55, 78, 99]) {
      let best = 0;
      for (let c = 0; c < 2; c++) {
        const plus = Float32Array.from(xs);
        const minus = Float32Array.from(xs);
        plus[p * 2 + c] += h;
        minus[p * 2 + c] -= h;
        best = Math.max(best, Math.abs((f(plus) - f(minus)) / (2 * h)));
      }
      expect(e.maps[0][p]).toBeCloseTo(best, 2);
    }
    x.dispose();
    model.dispose();
  });

  it('occlusion finds the only pixels a model reads', async () => {
    // dense(2) on an 8×8 image whose weights are non-zero on rows 2–3, columns 4–5 only.
    const m = tf.sequential();
    m.add(tf.layers.flatten({ inputShape: [8, 8, 1] }));
    m.add(tf.layers.dense({ units: 2, activation: 'softmax', useBias: false }));
    const w = new Float32Array(64 * 2);
    for (const [y, x] of [
      [2, 4],
      [2, 5],
      [3, 4],
      [3, 5],
    ])
      w[(y * 8 + x) * 2] = 1.5;
    m.layers[1].setWeights([tf.tensor2d(w, [64, 2])]);
    const input = tf.ones([1, 8, 8, 1]) as tf.Tensor4D;
    const e = await occlusion.explain({ model: m, input, target: 0, options: { patch: 2, stride: 1 } });
    const map = e.maps[0];
    const peak = map.indexOf(Math.max(...map));
    expect([2 * 8 + 4, 2 * 8 + 5, 3 * 8 + 4, 3 * 8 + 5]).toContain(peak);
    // Far from the block no patch changes anything.
    expect(map[7 * 8 + 0]).toBeCloseTo(0, 6);
    expect(map[0]).toBeCloseTo(0, 6);
    input.dispose();
    m.dispose();
  });

  it('every registered method returns finite maps of input size, and leaks no tensors', async () => {
    const model = smallNet();
    const x = tf.tensor4d(rand(2 * 10 * 10 * 2, 41), [2, 10, 10, 2]);
    const opts: Record<string, Record<string, unknown>> = {
      smoothgrad: { samples: 3 },
      ig: { steps: 8 },
      occlusion: { patch: 3 },
      lime: { samples: 40 },
      'kernel-shap': { samples: 40 },
    };
    const ids = explainMethods().map((m) => m.id);
    for (const id of [
      'gradcam',
      'gradcam++',
      'xgradcam',
      'layercam',
      'hirescam',
      'eigencam',
      'saliency',
      'smoothgrad',
      'ig',
      'occlusion',
      'cam',
      'deconvnet',
      'lime',
      'kernel-shap',
      'scorecam',
    ])
      expect(ids).toContain(id);
    // CAM needs a GAP + dense head, which this net lacks (cam-head.test.ts covers it and its error).
    for (const method of explainMethods().filter((m) => m.id !== 'cam')) {
      const run = () => method.explain({ model, input: x, target: [0, 3], options: opts[method.id] });
      await run();
      const before = tf.memory().numTensors;
      const e = await run();
      await run();
      expect(tf.memory().numTensors, method.id).toBe(before);
      expect(e.maps.length).toBe(2);
      expect([e.height, e.width]).toEqual([10, 10]);
      for (const m of e.maps) expect(m.every(Number.isFinite), method.id).toBe(true);
    }
    x.dispose();
    model.dispose();
  });

  it('guided backprop passes gradients only where the ReLU input and the gradient are both positive', async () => {
    // y = Σ v·relu(w·x): at a ReLU the guided rule zeroes negative incoming gradients (v < 0),
    // where plain backprop passes them; both zero units that are off.
    const m = tf.sequential();
    m.add(tf.layers.flatten({ inputShape: [2, 2, 1] }));
    m.add(tf.layers.dense({ units: 3, activation: 'relu', useBias: false }));
    m.add(tf.layers.dense({ units: 2, useBias: false }));
    const w = [
      [1, 0, -1],
      [0, 1, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    const v = [
      [2, 0],
      [-3, 0],
      [1, 0],
    ];
    m.layers[1].setWeights([tf.tensor2d(w)]);
    m.layers[2].setWeights([tf.tensor2d(v)]);
    const x = tf.tensor4d([1, 1, 0, 0], [1, 2, 2, 1]);
    // Units: h0 = 1 (on, v=2), h1 = 1 (on, v=-3), h2 = relu(-1) = 0 (off).
    // Plain gradient: x0 → 2, x1 → -3. Guided: x0 → 2, x1 → 0 (negative gradient blocked).
    const plain = await saliency.explain({ model: m, input: x, target: 0 });
    const guided = await getExplainMethod('guided-backprop').explain({ model: m, input: x, target: 0 });
    expect(Array.from(plain.maps[0])).toEqual([2, 3, 0, 0]);
    expect(Array.from(guided.maps[0])).toEqual([2, 0, 0, 0]);
    // The model is restored afterwards: plain gradients again.
    expect(Array.from((await saliency.explain({ model: m, input: x, target: 0 })).maps[0])).toEqual([
      2, 3, 0, 0,
    ]);
    x.dispose();
    m.dispose();
  });

  it('picks the last spatial layer by default, and rejects bad targets and layers in one line', async () => {
    const model = smallNet();
    const x = tf.tensor4d(rand(10 * 10 * 2, 51), [1, 10, 10, 2]);
    const e = await CAM_METHODS[0].explain({ model, input: x, target: 0 });
    expect(e.layer).toBe('c2');
    // Dropout passes its input through at inference: the layer before it is the default.
    const withDropout = tf.sequential();
    withDropout.add(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, name: 'conv' }));
    withDropout.add(tf.layers.dropout({ rate: 0.5, name: 'drop' }));
    withDropout.add(tf.layers.flatten());
    withDropout.add(tf.layers.dense({ units: 2 }));
    const x6 = tf.zeros([1, 6, 6, 1]) as tf.Tensor4D;
    expect((await CAM_METHODS[0].explain({ model: withDropout, input: x6, target: 1 })).layer).toBe('conv');
    x6.dispose();
    withDropout.dispose();
    await expect(CAM_METHODS[0].explain({ model, input: x, target: 4 })).rejects.toThrow(
      /class 4 out of range: the model has 4 classes/,
    );
    await expect(CAM_METHODS[0].explain({ model, input: x, target: 0, layer: 'f' })).rejects.toThrow(
      /layer 'f' has no spatial output/,
    );
    await expect(CAM_METHODS[0].explain({ model, input: x, target: 0, layer: 'nope' })).rejects.toThrow(
      /no layer 'nope'.*c1, p1, c2/,
    );
    await expect(smoothgrad.explain({ model, input: x, target: 0, options: { samples: 0 } })).rejects.toThrow(
      /samples must be a positive integer/,
    );
    expect(() => getExplainMethod('magic')).toThrow(/unknown method 'magic' \(valid: cam, gradcam/);
    x.dispose();
    model.dispose();
  });
});
