// The CAM head: cutting a trained CNN and adding GAP + dense (copied, frozen or not), training only
// the head, CAM = Grad-CAM at the GAP's input up to a positive scale, and the error on other models.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { cam } from '../src/methods/explain/cam.ts';
import { explainMethods, getExplainMethod } from '../src/methods/explain/registry.ts';
import { buildModel } from '../src/models/build.ts';
import {
  buildCamModel,
  CAM_CONV_LAYER,
  CAM_GAP_LAYER,
  camMaps,
  defaultCamLayer,
} from '../src/models/cam-head.ts';
import { logitsModel } from '../src/models/logits.ts';
import type { ModelSpec } from '../src/models/spec.ts';
import type { Batch } from '../src/train/batch-source.ts';
import { trainModel } from '../src/train/loop.ts';

/** conv-bn-relu, pool, conv relu, then a flatten + dense classifier: what `convlens train` makes. */
const SPEC: ModelSpec = {
  name: 'small',
  description: 'test net',
  layers: [
    { type: 'conv2d', filters: 6, kernel: 3, padding: 'same', useBias: false },
    { type: 'batchnorm' },
    { type: 'activation', activation: 'relu' },
    { type: 'maxpool', pool: 2 },
    { type: 'conv2d', filters: 8, kernel: 3, padding: 'same', activation: 'relu' },
    { type: 'flatten' },
    { type: 'dense', units: 16, activation: 'relu' },
  ],
};

/** 4 classes on 12×12: class k has the k-th quadrant bright, plus seeded noise. */
function quadrants(n: number, seed: number): Batch {
  let s = seed;
  const r = () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const x = new Float32Array(n * 144);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    y[i] = k;
    for (let p = 0; p < 144; p++) {
      const bright = Math.floor(p / 72) === k >> 1 && Math.floor((p % 12) / 6) === (k & 1);
      x[i * 144 + p] = (bright ? 0.6 : 0) + r() * 0.4;
    }
  }
  return { x, y, size: n };
}

const batches = (data: Batch, size: number) => () => {
  const out: Batch[] = [];
  for (let i = 0; i < data.size; i += size) {
    const m = Math.min(size, data.size - i);
    out.push({ x: data.x.subarray(i * 144, (i + m) * 144), y: data.y.subarray(i, i + m), size: m });
  }
  return out;
};

const weightsOf = (layers: tf.layers.Layer[]) =>
  layers.flatMap((l) => l.getWeights().map((w) => Array.from(w.dataSync())));

function pearson(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('CAM head', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('cuts at the last conv block by default, adds GAP + dense, and copies the base', async () => {
    const model = buildModel(SPEC, { inputShape: [12, 12, 1], numClasses: 4, seed: 1 });
    expect(defaultCamLayer(model)).toBe('conv2');
    // A conv → BN → ReLU block is cut after its activation.
    const block = buildModel(
      {
        name: 'block',
        description: '',
        layers: [
          { type: 'conv2d', filters: 4, kernel: 3, useBias: false },
          { type: 'batchnorm' },
          { type: 'activation', activation: 'relu' },
          { type: 'flatten' },
        ],
      },
      { inputShape: [8, 8, 1], numClasses: 2, seed: 1 },
    );
    expect(defaultCamLayer(block)).toBe('act1');
    block.dispose();

    const m = await buildCamModel(model, { seed: 3 });
    expect(m.layers.map((l) => l.name)).toEqual([
      'input',
      'conv1',
      'bn1',
      'act1',
      'pool1',
      'conv2',
      CAM_GAP_LAYER,
      'logits',
      'probs',
    ]);
    expect(m.outputs[0].shape).toEqual([null, 4]);
    expect(m.getLayer('conv2').outputShape).toEqual([null, 6, 6, 8]);
    expect(m.getLayer('logits').getWeights()[0].shape).toEqual([8, 4]);
    for (const name of ['conv1', 'bn1', 'conv2']) expect(m.getLayer(name).trainable, name).toBe(false);
    expect(m.trainableWeights.map((w) => w.originalName)).toEqual(['logits/kernel', 'logits/bias']);
    // Same features as the original up to the cut.
    const x = tf.tensor4d(quadrants(4, 1).x, [4, 12, 12, 1]);
    const [a, b] = tf.tidy(() => [
      (
        tf
          .model({ inputs: model.inputs, outputs: model.getLayer('conv2').output as tf.SymbolicTensor })
          .predict(x) as tf.Tensor
      ).dataSync(),
      (
        tf
          .model({ inputs: m.inputs, outputs: m.getLayer('conv2').output as tf.SymbolicTensor })
          .predict(x) as tf.Tensor
      ).dataSync(),
    ]);
    expect(Array.from(b)).toEqual(Array.from(a));
    await expect(buildCamModel(model, { layer: 'nope' })).rejects.toThrow(/no layer 'nope'.*conv1, bn1/);
    await expect(buildCamModel(model, { layer: 'dense1' })).rejects.toThrow(
      /layer 'dense1' has no spatial output/,
    );
    x.dispose();
    m.dispose();
    model.dispose();
  });

  it('trains only the head when frozen (batch norm statistics included), everything when not; the original never changes', async () => {
    const model = buildModel(SPEC, { inputShape: [12, 12, 1], numClasses: 4, seed: 2 });
    const original = weightsOf(model.layers);
    const data = quadrants(64, 5);
    for (const freeze of [true, false]) {
      const m = await buildCamModel(model, { freeze, seed: 4 });
      const base = m.layers.filter((l) => !['logits', 'probs', CAM_GAP_LAYER].includes(l.name));
      const baseBefore = weightsOf(base);
      const headBefore = weightsOf([m.getLayer('logits')]);
      const optimizer = tf.train.adam(0.01);
      const history = await trainModel(m, { optimizer, epochs: 3, trainBatches: batches(data, 16) });
      expect(history.records).toHaveLength(3);
      expect(weightsOf([m.getLayer('logits')])).not.toEqual(headBefore);
      if (freeze) expect(weightsOf(base)).toEqual(baseBefore);
      else expect(weightsOf(base)).not.toEqual(baseBefore);
      expect(weightsOf(model.layers)).toEqual(original);
      optimizer.dispose();
      m.dispose();
    }
    model.dispose();
  });

  it('adds a trainable conv layer before the GAP when asked (Zhou et al.); CAM then reads that layer', async () => {
    const model = buildModel(SPEC, { inputShape: [12, 12, 1], numClasses: 4, seed: 2 });
    const m = await buildCamModel(model, { conv: 6, seed: 4 });
    const conv = m.getLayer(CAM_CONV_LAYER);
    expect(conv.getClassName()).toBe('Conv2D');
    expect(conv.outputShape).toEqual([null, ...(m.getLayer('conv2').outputShape as number[]).slice(1, 3), 6]);
    expect(conv.trainable).toBe(true);
    const before = weightsOf([conv]);
    const baseBefore = weightsOf([m.getLayer('conv2')]);
    const optimizer = tf.train.adam(0.01);
    await trainModel(m, { optimizer, epochs: 2, trainBatches: batches(quadrants(64, 5), 16) });
    expect(weightsOf([conv])).not.toEqual(before);
    expect(weightsOf([m.getLayer('conv2')])).toEqual(baseBefore);
    const x = tf.tensor4d(quadrants(2, 9).x, [2, 12, 12, 1]);
    const c = await cam.explain({ model: m, input: x, target: [0, 1] });
    expect(c.layer).toBe(CAM_CONV_LAYER);
    await expect(buildCamModel(model, { conv: 1.5 })).rejects.toThrow(
      /conv must be a whole number of filters, got 1.5/,
    );
    optimizer.dispose();
    x.dispose();
    m.dispose();
    model.dispose();
  });

  it('CAM equals Grad-CAM at the GAP input up to a positive scale, and with the bias its mean is the logit', async () => {
    const model = buildModel(SPEC, { inputShape: [12, 12, 1], numClasses: 4, seed: 6 });
    const m = await buildCamModel(model, { seed: 7 });
    await trainModel(m, {
      optimizer: tf.train.adam(0.01),
      epochs: 2,
      trainBatches: batches(quadrants(64, 8), 16),
    });
    const x = tf.tensor4d(quadrants(4, 9).x, [4, 12, 12, 1]);
    const targets = [0, 1, 2, 3];
    for (const signed of [true, false]) {
      const c = await cam.explain({ model: m, input: x, target: targets, options: { signed } });
      const g = await getExplainMethod('gradcam').explain({
        model: m,
        input: x,
        target: targets,
        layer: c.layer,
        options: { signed },
      });
      expect(c.layer).toBe('conv2');
      expect(c.signed).toBe(signed);
      for (let i = 0; i < 4; i++) {
        if (c.maps[i].every((v) => v === 0)) continue;
        expect(pearson(c.maps[i], g.maps[i])).toBeGreaterThan(0.999);
        let k = 0;
        for (let p = 1; p < c.maps[i].length; p++) if (Math.abs(c.maps[i][p]) > Math.abs(c.maps[i][k])) k = p;
        const ratio = g.maps[i][k] / c.maps[i][k];
        expect(ratio).toBeGreaterThan(0);
        // Grad-CAM's weights are the dense weights divided by the GAP's h·w.
        expect(ratio).toBeCloseTo(1 / 36, 4);
      }
    }
    x.dispose();
    m.dispose();
    model.dispose();

    // At input resolution (no upsampling) the biased, signed map averages to the class's logit.
    const flat = buildModel(
      {
        name: 'flat',
        description: '',
        layers: [{ type: 'conv2d', filters: 5, kernel: 3, padding: 'same', activation: 'relu' }],
      },
      { inputShape: [12, 12, 1], numClasses: 3, seed: 2 },
    );
    const f = await buildCamModel(flat, { seed: 1 });
    const xi = tf.tensor4d(quadrants(2, 3).x, [2, 12, 12, 1]);
    const r = camMaps(f, xi, [2, 0], { bias: true, signed: true });
    const means = tf.tidy(() => Array.from(tf.mean(r.maps, [1, 2]).dataSync()));
    const logits = tf.tidy(() => (logitsModel(f).predict(xi) as tf.Tensor).arraySync() as number[][]);
    expect(means[0]).toBeCloseTo(logits[0][2], 4);
    expect(means[1]).toBeCloseTo(logits[1][0], 4);
    tf.dispose([r.maps, xi]);
    f.dispose();
    flat.dispose();
  });

  it('is registered first, leaks nothing, and names the last layers of a model without a GAP head', async () => {
    expect(explainMethods()[0].id).toBe('cam');
    const model = buildModel(SPEC, { inputShape: [12, 12, 1], numClasses: 4, seed: 1 });
    const x = tf.tensor4d(quadrants(2, 1).x, [2, 12, 12, 1]);
    await expect(cam.explain({ model, input: x, target: 0 })).rejects.toThrow(
      /CAM needs a model ending in GlobalAveragePooling2D → Dense .*'small' ends in flatten \(Flatten\) → dense1 \(Dense\) → logits \(Dense\) → probs \(Activation\)/,
    );
    const m = await buildCamModel(model);
    await cam.explain({ model: m, input: x, target: [1, 2] });
    const n = tf.memory().numTensors;
    const e = await cam.explain({ model: m, input: x, target: [1, 2] });
    await cam.explain({ model: m, input: x, target: 3, options: { bias: true } });
    expect(tf.memory().numTensors).toBe(n);
    expect([e.height, e.width, e.maps.length]).toEqual([12, 12, 2]);
    expect(e.meta).toMatchObject({ layer: 'conv2', layerShape: [6, 6, 8] });
    // A Keras-style GAP net whose dense layer is the output (no separate softmax) works too.
    const seq = tf.sequential();
    seq.add(
      tf.layers.conv2d({ inputShape: [12, 12, 1], filters: 3, kernelSize: 3, activation: 'relu', name: 'c' }),
    );
    seq.add(tf.layers.globalAveragePooling2d({ name: 'g' }));
    seq.add(tf.layers.dropout({ rate: 0.5 }));
    seq.add(tf.layers.dense({ units: 4, activation: 'softmax' }));
    expect((await cam.explain({ model: seq, input: x, target: 1 })).layer).toBe('c');
    seq.dispose();
    x.dispose();
    m.dispose();
    model.dispose();
  });
});
