// Input-only gradients (core/engine/input-only-grads.ts): saliency and Grad-CAM run no
// filter-gradient kernel and give the same maps as tfjs's own gradients; training still gets dW.
// On a small MobileNet-like net (linear convs without bias, batch norm, relu6, depthwise: the fused
// convs whose custom gradient computes dW) and on the ImageNet MobileNet 0.25 when it is present.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { setInputOnlyGradients, skippedFilterGradients } from '@convlens/core/engine/input-only-grads';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { setFolding } from '@convlens/core/models/inference-twin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNativeKernels, unregisterNativeKernels } from '../src/engine/native.ts';
import { loadModel } from '../src/io/model-io.ts';

const MOBILENET = join(import.meta.dirname, '../../../../shared/models/mobilenet_v1_0.25_224');
const FILTER_GRADS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'];

function tinyMobileNet(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [16, 16, 3] });
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
  h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU({ maxValue: 6 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init(2) })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU({ maxValue: 6, name: 'dw_relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .conv2d({ filters: 16, kernelSize: 1, useBias: false, kernelInitializer: init(3) })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU({ maxValue: 6, name: 'pw_relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reshape({ targetShape: [1, 1, 16] }).apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .conv2d({ filters: 5, kernelSize: 1, kernelInitializer: init(4) })
    .apply(h) as tf.SymbolicTensor;
  const logits = tf.layers.flatten({ name: 'logits' }).apply(h) as tf.SymbolicTensor;
  const probs = tf.layers.activation({ activation: 'softmax' }).apply(logits) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: probs });
}

/** The maps a method gives and the kernels it ran (by name, with counts). */
async function explainCounted(method: string, req: Record<string, unknown>) {
  let maps: Float32Array[] = [];
  const info = await tf.profile(async () => {
    maps = (await getExplainMethod(method).explain(req as any)).maps;
  });
  const counts: Record<string, number> = {};
  for (const k of info.kernels) counts[k.name] = (counts[k.name] ?? 0) + 1;
  return { maps, counts };
}

/** Runs a method with input-only gradients off (tfjs's own) and on; both maps and kernel counts. */
async function compare(method: string, req: Record<string, unknown>) {
  setInputOnlyGradients(false);
  const before = await explainCounted(method, req);
  setInputOnlyGradients(true);
  const skipped = skippedFilterGradients();
  const after = await explainCounted(method, req);
  return { before, after, skipped: skippedFilterGradients() - skipped };
}

const filterCalls = (counts: Record<string, number>) =>
  FILTER_GRADS.reduce((s, k) => s + (counts[k] ?? 0), 0);

function expectSameMaps(a: Float32Array[], b: Float32Array[]) {
  expect(b.length).toBe(a.length);
  for (let i = 0; i < a.length; i++) {
    let err = 0;
    for (let j = 0; j < a[i].length; j++) err = Math.max(err, Math.abs(a[i][j] - b[i][j]));
    expect(err).toBeLessThanOrEqual(1e-6);
  }
}

// These count the fused convs' own gradient kernels: the folded inference twin (tested in
// engine-folding.test.ts) would replace them, so it is off here.
let folding = true;
beforeAll(async () => {
  await initBackend('wasm');
  registerNativeKernels();
  folding = setFolding(false);
});
afterAll(() => {
  setFolding(folding);
  setInputOnlyGradients(true);
  unregisterNativeKernels();
});

describe('input-only gradients', () => {
  it('saliency and Grad-CAM on a small MobileNet-like net: no filter gradients, same maps', async () => {
    const model = tinyMobileNet();
    const input = tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const tensors = tf.memory().numTensors;
    for (const [method, layer] of [
      ['saliency', undefined],
      ['gradcam', 'dw_relu'],
    ] as const) {
      const r = await compare(method, { model, input, target: [1, 3], layer });
      // tfjs's own gradient ran them (the test can fail), the input-only one does not.
      expect(filterCalls(r.before.counts), `${method}: tfjs's filter gradients`).toBeGreaterThan(0);
      expect(filterCalls(r.after.counts), `${method}: filter gradients`).toBe(0);
      expect(r.skipped, method).toBe(filterCalls(r.before.counts));
      expectSameMaps(r.before.maps, r.after.maps);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    input.dispose();
    model.dispose();
  });

  it('training still differentiates the filters (same dW as tfjs)', async () => {
    const model = tinyMobileNet();
    const x = tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 6);
    const loss = () => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar;
    const grads = async () => {
      const { value, grads } = tf.variableGrads(loss);
      const out = await Promise.all(model.trainableWeights.map((w) => grads[w.originalName].data()));
      tf.dispose([value, ...Object.values(grads)]);
      return out as Float32Array[];
    };
    setInputOnlyGradients(false);
    const want = await grads();
    setInputOnlyGradients(true);
    const skipped = skippedFilterGradients();
    const got = await grads();
    expect(skippedFilterGradients()).toBe(skipped);
    // Every weight has a gradient, and the convs' are not zero.
    expect(got.length).toBe(model.trainableWeights.length);
    for (let i = 0; i < want.length; i++) {
      expect(got[i]).toEqual(want[i]);
      expect(
        got[i].some((v) => v !== 0),
        model.trainableWeights[i].name,
      ).toBe(true);
    }
    x.dispose();
    model.dispose();
  });

  it("batch-norm gradient: every term equals the unfused ops' autodiff; dx alone runs no Tile or Sub", async () => {
    const x = tf.randomUniform([2, 5, 4, 3], -2, 2, 'float32', 8);
    const stats = [0, 1, 2, 3].map((k) => tf.randomUniform([3], 0.5, 1.5, 'float32', 20 + k));
    const eps = 1e-3;
    const fused = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
      tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, eps), tf.linspace(-1, 1, 120).reshape(a.shape)));
    const plain = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.add(tf.mul(tf.mul(tf.sub(a, m), tf.rsqrt(tf.add(v, eps))), s), o),
          tf.linspace(-1, 1, 120).reshape(a.shape),
        ),
      );
    const args = [x, ...stats] as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const got = tf.grads(fused)(args);
    const want = tf.grads(plain)(args);
    for (let i = 0; i < 5; i++) {
      const a = (await got[i].data()) as Float32Array;
      const b = (await want[i].data()) as Float32Array;
      let err = 0;
      for (let j = 0; j < b.length; j++) err = Math.max(err, Math.abs(a[j] - b[j]) / (1 + Math.abs(b[j])));
      expect(err, `term ${i}`).toBeLessThan(1e-5);
    }
    const info = await tf.profile(() =>
      tf.grad((a: tf.Tensor) => fused(a, ...(stats as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])))(x),
    );
    const names = info.kernels.map((k) => k.name);
    expect(names).toContain('FusedBatchNorm');
    expect(names).not.toContain('Tile');
    expect(names).not.toContain('Sub');
    tf.dispose([x, ...stats, ...got, ...want, info.result as tf.Tensor]);
  });

  it.skipIf(!existsSync(MOBILENET))(
    'ImageNet MobileNet 0.25: saliency and Grad-CAM run no filter gradient, same maps',
    async () => {
      const { model } = await loadModel(MOBILENET);
      const input = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
      const sal = await compare('saliency', { model, input, target: 281 });
      expect(filterCalls(sal.before.counts)).toBe(15); // conv1, 13 pointwise, conv_preds
      expect(filterCalls(sal.after.counts)).toBe(0);
      expectSameMaps(sal.before.maps, sal.after.maps);
      const cam = await compare('gradcam', { model, input, target: 281, layer: 'conv_pw_13_relu' });
      expect(filterCalls(cam.before.counts)).toBe(1); // conv_preds
      expect(filterCalls(cam.after.counts)).toBe(0);
      expectSameMaps(cam.before.maps, cam.after.maps);
      input.dispose();
      model.dispose();
    },
    120_000,
  );
});
