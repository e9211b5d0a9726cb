// The folded inference twin (core/models/inference-twin.ts, folded-conv.ts): conv → batch norm →
// relu/relu6 chains run as one fused conv with folded weights, forward and input gradient, on the
// native kernels, plain wasm and the cpu backend; everything a method can observe stays as without
// folding (patched layers, weight gradients, weights that change). Also the one-pass activation
// gradient kernel and the tape pause Grad-CAM uses.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { ACTIVATION_GRAD } from '@convlens/core/engine/kernels/activation-grad';
import { pauseTape } from '@convlens/core/engine/tape-pause';
import { scores } from '@convlens/core/methods/explain/common';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { activationGradient } from '@convlens/core/models/folded-conv';
import { findChains, inferenceTwin, setFolding } from '@convlens/core/models/inference-twin';
import { scoreHead } from '@convlens/core/models/logits';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNativeKernels, unregisterNativeKernels } from '../src/engine/native.ts';
import { loadModel } from '../src/io/model-io.ts';

const MOBILENET = join(import.meta.dirname, '../../../../shared/models/mobilenet_v1_0.25_224');

/** conv-bn-relu6, depthwise-bn-relu (an Activation layer), pointwise-relu6 without bn; trained-looking bn statistics. */
function tinyNet(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [12, 12, 3] });
  let h = tf.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(1),
    })
    .apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ name: 'bn1' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU({ maxValue: 6, name: 'relu1' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'valid', depthMultiplier: 2, depthwiseInitializer: init(2) })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ name: 'bn2', scale: false }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu', name: 'dw_relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .conv2d({ filters: 12, kernelSize: 1, kernelInitializer: init(3), biasInitializer: 'ones' })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu6', name: 'pw_relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({ units: 4, name: 'logits', kernelInitializer: init(4) })
    .apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits });
  // Batch-norm statistics far from the identity, as after training.
  for (const [k, l] of model.layers.entries()) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    l.setWeights(
      l.getWeights().map((w, i) => {
        const name = l.weights[i].name;
        const r = tf.randomUniform(w.shape, 0.2, 1.5, 'float32', 10 * k + i);
        return name.includes('moving_mean') ? tf.sub(r, 0.8) : r;
      }),
    );
  }
  return model;
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const inputGrad = (net: tf.LayersModel, x: tf.Tensor) =>
  tf.tidy(() =>
    tf.grad((i: tf.Tensor) =>
      tf.sum(tf.mul(net.apply(i, { training: false }) as tf.Tensor, tf.oneHot([1, 3], 4))),
    )(x),
  );

/** The twin folds something and gives the network's scores and input gradients; returns the twin. */
function expectTwinAgrees(net: tf.LayersModel, x: tf.Tensor): tf.LayersModel {
  const twin = inferenceTwin(net);
  expect(twin).not.toBe(net);
  const a = net.predict(x) as tf.Tensor;
  const b = twin.predict(x) as tf.Tensor;
  expect(maxDiff(a, b)).toBeLessThan(1e-5);
  const ga = inputGrad(net, x);
  const gb = inputGrad(twin, x);
  expect(tf.tidy(() => tf.max(tf.abs(ga)).dataSync()[0])).toBeGreaterThan(1e-3);
  expect(maxDiff(ga, gb)).toBeLessThan(1e-6);
  tf.dispose([a, b, ga, gb]);
  return twin;
}

async function kernelsOf(f: () => unknown): Promise<Record<string, number>> {
  const info = await tf.profile(f as () => tf.Tensor);
  const counts: Record<string, number> = {};
  for (const k of info.kernels) counts[k.name] = (counts[k.name] ?? 0) + 1;
  return counts;
}

async function mapOf(method: string, model: tf.LayersModel, x: tf.Tensor4D, layer?: string) {
  return (await getExplainMethod(method).explain({ model, input: x, target: [1, 3], layer })).maps;
}

const mapsDiff = (a: Float32Array[], b: Float32Array[]) =>
  Math.max(...a.map((m, i) => Math.max(...m.map((v, j) => Math.abs(v - b[i][j])))));

/** Everything the twin must preserve, on the current backend. */
function suite(label: string, setup: () => Promise<void>, teardown: () => void) {
  describe(label, () => {
    let model: tf.LayersModel;
    let x: tf.Tensor4D;
    beforeAll(async () => {
      await setup();
      model = tinyNet();
      x = tf.randomUniform([2, 12, 12, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    });
    afterAll(() => {
      x.dispose();
      model.dispose();
      teardown();
    });

    it('finds the three chains and computes the same scores and input gradients', async () => {
      const order = (c: { chain: { conv: tf.layers.Layer } }) => model.layers.indexOf(c.chain.conv);
      const chains = [...findChains(model).values()]
        .sort((p, q) => order(p) - order(q))
        .map(({ chain }) => [
          chain.conv.getClassName(),
          chain.bn?.name ?? null,
          chain.act?.name ?? null,
          chain.activation,
        ]);
      expect(chains).toEqual([
        ['Conv2D', 'bn1', 'relu1', 'relu6'],
        ['DepthwiseConv2D', 'bn2', 'dw_relu', 'relu'],
        ['Conv2D', null, 'pw_relu', 'relu6'],
      ]);
      expectTwinAgrees(model, x);
    });

    it('runs one conv per chain and one mask per activation, no batch-norm or activation kernels', async () => {
      const twin = inferenceTwin(model);
      inputGrad(twin, x).dispose();
      const counts = await kernelsOf(() => inputGrad(twin, x));
      const onWasm = tf.getBackend() === 'wasm';
      for (const k of ['FusedBatchNorm', 'Relu', 'Relu6', 'Minimum', 'Greater', 'LessEqual'])
        expect(counts[k] ?? 0, k).toBe(0);
      // The mask: one kernel on wasm; elsewhere composed (step of y·(6 − y)), one Step per activation.
      expect(counts[ACTIVATION_GRAD] ?? 0).toBe(onWasm ? 3 : 0);
      expect(counts.Step ?? 0).toBe(onWasm ? 0 : 3);
      expect((counts.FusedConv2D ?? 0) + (counts.FusedDepthwiseConv2D ?? 0)).toBe(3);
    });

    it('runs lone convs folded too: with their own relu (Keras style), or linear (a residual branch)', async () => {
      const init = (seed: number) => tf.initializers.glorotUniform({ seed });
      const input = tf.input({ shape: [8, 8, 3] });
      const a = tf.layers
        .conv2d({
          filters: 6,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(5),
          biasInitializer: 'zeros',
        })
        .apply(input) as tf.SymbolicTensor;
      const b = tf.layers
        .conv2d({ filters: 6, kernelSize: 1, useBias: false, kernelInitializer: init(6) })
        .apply(input) as tf.SymbolicTensor;
      let h = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
      h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
      h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
      const net = tf.model({
        inputs: input,
        outputs: tf.layers.dense({ units: 4 }).apply(h) as tf.SymbolicTensor,
      });
      try {
        const chains = [...findChains(net).values()].map(({ chain }) => [
          chain.bn ?? null,
          chain.act ?? null,
          chain.activation,
        ]);
        expect(chains).toEqual([
          [null, null, 'relu'],
          [null, null, 'linear'],
        ]);
        const xi = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 11);
        const twin = expectTwinAgrees(net, xi);
        // Neither the filter nor the bias gradient of the folded convs is formed (no fill, no bias sum).
        const counts = await kernelsOf(() => inputGrad(twin, xi));
        expect(counts.Conv2DBackpropInput ?? 0).toBe(2);
        expect((counts.Conv2DBackpropFilter ?? 0) + (counts.Fill ?? 0)).toBe(0);
        expect(counts.Relu ?? 0).toBe(1); // the Add's relu layer; the conv's own relu is a post-op
        // Methods that replace the relu gradient see the conv's own relu as before.
        for (const method of ['guided-backprop', 'deconvnet', 'saliency']) {
          setFolding(false);
          const plain = await mapOf(method, net, xi as tf.Tensor4D);
          setFolding(true);
          const folded = await mapOf(method, net, xi as tf.Tensor4D);
          const scale = Math.max(...plain.map((m) => Math.max(...m.map(Math.abs))));
          expect(scale, method).toBeGreaterThan(0);
          expect(mapsDiff(plain, folded) / scale, method).toBeLessThan(1e-5);
        }
        xi.dispose();
      } finally {
        net.dispose();
      }
    });

    it('gives the maps folding off gives: saliency, Grad-CAM at a chain end and inside one, guided backprop', async () => {
      for (const [method, layer] of [
        ['saliency', undefined],
        ['gradcam', 'dw_relu'],
        ['gradcam', 'bn2'], // a layer inside a chain: that chain runs unfolded
        ['guided-backprop', undefined], // patches the relu layers
        ['ig', undefined],
      ] as const) {
        setFolding(false);
        const plain = await mapOf(method, model, x, layer);
        setFolding(true);
        const folded = await mapOf(method, model, x, layer);
        const scale = Math.max(...plain.map((m) => Math.max(...m.map(Math.abs))));
        expect(scale, method).toBeGreaterThan(0);
        expect(mapsDiff(plain, folded) / scale, `${method} ${layer ?? ''}`).toBeLessThan(1e-5);
      }
    });

    it('keeps weight gradients and follows weight changes', async () => {
      // A gradient with respect to a chain's weight (in inference mode) runs that chain's own layers.
      const bn = model.getLayer('bn1') as tf.layers.Layer & { gamma: tf.LayerVariable };
      const gamma = bn.gamma.read() as tf.Variable;
      const grad = () =>
        tf.tidy(() =>
          tf.variableGrads(() => tf.sum(scores(model, x)) as tf.Scalar, [gamma]).grads[gamma.name].clone(),
        );
      setFolding(false);
      const plain = grad();
      setFolding(true);
      const folded = grad();
      expect(tf.tidy(() => tf.norm(plain).dataSync()[0])).toBeGreaterThan(1e-4);
      expect(maxDiff(plain, folded)).toBeLessThan(1e-6);
      tf.dispose([plain, folded]);
      // An assign (what optimizers do) is seen by the next call.
      const old = gamma.clone();
      gamma.assign(tf.mul(old, 1.7));
      const a = model.predict(x) as tf.Tensor;
      const b = scores(model, x);
      expect(maxDiff(a, b)).toBeLessThan(1e-5);
      gamma.assign(old);
      tf.dispose([a, b, old]);
    });

    it('holds no tensor across calls, the first included, and frees the folded weights with the model', async () => {
      const dataIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
      // What disposing a model frees by itself (its weights).
      const probe = tinyNet();
      const withProbe = dataIds();
      probe.dispose();
      const weights = withProbe - dataIds();
      const fresh = tinyNet();
      const before = tf.memory().numTensors;
      const ids = dataIds();
      for (let i = 0; i < 3; i++) {
        await mapOf('saliency', fresh, x);
        await mapOf('gradcam', fresh, x, 'pw_relu');
      }
      expect(tf.memory().numTensors).toBe(before);
      // The folded weights stay in the backend (2 chains with a batch norm × filter and bias; the
      // third, conv → relu6, runs on the conv's own weights) and go with the model.
      expect(dataIds()).toBe(ids + 4);
      fresh.dispose();
      expect(dataIds()).toBe(ids - weights);
    });
  });
}

suite(
  'native kernels',
  async () => {
    await initBackend('wasm');
    registerNativeKernels();
  },
  () => unregisterNativeKernels(),
);
suite(
  'plain wasm',
  async () => {
    await initBackend('wasm');
  },
  () => {},
);
suite(
  'cpu backend',
  async () => {
    await initBackend('cpu');
  },
  () => {},
);

describe('activation gradient and tape pause', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('masks dy by 0 < y < cap in one kernel, the same on native, wasm and composed ops', async () => {
    const y = tf.tensor1d([-1, 0, 1e-7, 3, 5.999, 6, 6.5, 2]);
    const dy = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, Number.NaN]);
    const expected6 = [0, 0, 3, 4, 5, 0, 0, Number.NaN];
    const expectedRelu = [0, 0, 3, 4, 5, 6, 7, Number.NaN];
    const run = () => [activationGradient(dy, y, 'relu6'), activationGradient(dy, y, 'relu')];
    const check = (label: string) => {
      const [a, b] = run();
      expect(Array.from(a.dataSync()), label).toEqual(expected6);
      expect(Array.from(b.dataSync()), label).toEqual(expectedRelu);
      tf.dispose([a, b]);
    };
    check('wasm');
    registerNativeKernels();
    check('native');
    unregisterNativeKernels();
    await initBackend('cpu');
    check('cpu (composed)');
    await initBackend('wasm');
    tf.dispose([y, dy]);
  });

  it('pauseTape leaves what runs before resume() off the gradient', () => {
    const x = tf.scalar(3);
    const g = tf.grad((v: tf.Tensor) => {
      const resume = pauseTape();
      const a = tf.square(v); // unrecorded: a constant 9 to the gradient
      resume();
      return tf.mul(a, v);
    })(x);
    expect(g.dataSync()[0]).toBeCloseTo(9, 5); // d(9·v)/dv, not d(v³)/dv = 27
    const full = tf.grad((v: tf.Tensor) => tf.mul(tf.square(v), v))(x);
    expect(full.dataSync()[0]).toBeCloseTo(27, 5);
    tf.dispose([x, g, full]);
  });
});

describe.skipIf(!existsSync(join(MOBILENET, 'model.json')))('ImageNet MobileNet 0.25', () => {
  it('folds its 27 conv-BN-relu6 chains and the logits conv; scores, saliency and Grad-CAM agree with the unfolded model', async () => {
    await initBackend('wasm');
    registerNativeKernels();
    const { model } = await loadModel(MOBILENET);
    try {
      const net = scoreHead(model).net;
      expect(findChains(net).size).toBe(28);
      const x = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
      const a = net.predict(x) as tf.Tensor;
      const b = scores(model, x);
      expect(maxDiff(a, b) / tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0])).toBeLessThan(1e-5);
      for (const [method, layer] of [
        ['saliency', undefined],
        ['gradcam', 'conv_pw_13_relu'],
      ] as const) {
        const req = { model, input: x, target: 281, layer };
        setFolding(false);
        const plain = (await getExplainMethod(method).explain(req)).maps[0];
        setFolding(true);
        const folded = (await getExplainMethod(method).explain(req)).maps[0];
        // relu6 gradients flip where a unit sits within rounding of 0 or 6: a 1e-6 relative change of
        // the batch-norm variances moves saliency by ~0.4 % (L2); folding moves it less.
        let d = 0;
        let n = 0;
        for (let i = 0; i < plain.length; i++) {
          d += (plain[i] - folded[i]) ** 2;
          n += plain[i] ** 2;
        }
        expect(Math.sqrt(d / n), method).toBeLessThan(method === 'gradcam' ? 1e-4 : 1e-2);
      }
      tf.dispose([x, a, b]);
    } finally {
      model.dispose();
      unregisterNativeKernels();
    }
  });
});
