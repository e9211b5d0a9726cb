/**
 * Gradients of the whole lab CNN (pw11) on wasm: equal to the cpu backend's, agreeing with central
 * finite differences, and leaving no tensors behind.
 */
import { describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { buildModel } from '../src/models/build.ts';
import { logitsModel } from '../src/models/logits.ts';

const N = 4;
const SHAPE: [number, number, number] = [14, 14, 1];

function inputs() {
  const x = new Float32Array(N * 14 * 14);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = s / 4294967296;
  }
  return { x, labels: [3, 1, 4, 1] };
}

/** Loss of the model in inference mode (dropout off), as a function of its weights. */
function lossFn(net: tf.LayersModel, x: tf.Tensor, onehot: tf.Tensor) {
  return () =>
    tf.losses.softmaxCrossEntropy(onehot, net.apply(x, { training: false }) as tf.Tensor) as tf.Scalar;
}

async function gradientsOn(backend: 'cpu' | 'wasm') {
  await initBackend(backend);
  const model = buildModel('pw11', { inputShape: SHAPE, numClasses: 10, seed: 3 });
  const net = logitsModel(model);
  const { x, labels } = inputs();
  const result = tf.tidy(() => {
    const xt = tf.tensor4d(x, [N, ...SHAPE]);
    const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
    const { grads } = tf.variableGrads(lossFn(net, xt, onehot));
    const inputGrad = tf.grad((inp: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(onehot, net.apply(inp, { training: false }) as tf.Tensor),
    )(xt);
    return {
      weights: net.trainableWeights.map(
        (w) => grads[(w.read() as tf.Variable).name].dataSync() as Float32Array,
      ),
      input: inputGrad.dataSync() as Float32Array,
    };
  });
  model.dispose();
  return { ...result, names: net.trainableWeights.map((w) => w.originalName) };
}

function relErr(a: Float32Array, b: Float32Array): number {
  let err = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return err / scale;
}

describe('pw11 gradients on wasm', () => {
  it('match the cpu backend for every weight and the input (≤ 1e-4)', async () => {
    const cpu = await gradientsOn('cpu');
    const wasm = await gradientsOn('wasm');
    expect(wasm.names).toEqual(cpu.names);
    expect(cpu.names.length).toBe(8); // 4 layers with kernel + bias
    for (let i = 0; i < cpu.weights.length; i++) {
      expect(relErr(cpu.weights[i], wasm.weights[i]), cpu.names[i]).toBeLessThan(1e-4);
    }
    expect(relErr(cpu.input, wasm.input)).toBeLessThan(1e-4);
  });

  it('agree with central finite differences along random directions', async () => {
    await initBackend('wasm');
    const model = buildModel('pw11', { inputShape: SHAPE, numClasses: 10, seed: 5 });
    const net = logitsModel(model);
    const { x, labels } = inputs();
    const xt = tf.tensor4d(x, [N, ...SHAPE]);
    const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
    const f = lossFn(net, xt, onehot);
    const { grads, value } = tf.variableGrads(f);
    value.dispose();
    const eps = 5e-3;
    for (const w of net.trainableWeights) {
      const v = w.read() as tf.Variable;
      const original = v.clone();
      // A unit direction: the step stays small for every weight tensor, whatever its size.
      const dir = tf.tidy(() => {
        const d = tf.randomNormal(v.shape, 0, 1, 'float32', 11);
        return tf.div(d, tf.norm(d));
      });
      const analytic = tf.tidy(() => tf.sum(tf.mul(grads[v.name], dir)).dataSync()[0]);
      tf.tidy(() => v.assign(tf.add(original, tf.mul(dir, eps))));
      const plus = tf.tidy(() => f().dataSync()[0]);
      tf.tidy(() => v.assign(tf.sub(original, tf.mul(dir, eps))));
      const minus = tf.tidy(() => f().dataSync()[0]);
      v.assign(original);
      const numeric = (plus - minus) / (2 * eps);
      expect(
        Math.abs(numeric - analytic),
        `${w.originalName}: fd ${numeric} vs grad ${analytic}`,
      ).toBeLessThan(2e-2 * Math.max(1e-3, Math.abs(analytic)) + 1e-4);
      tf.dispose([original, dir]);
    }
    tf.dispose([xt, onehot, ...Object.values(grads)]);
    model.dispose();
  });

  it('repeated gradient calls do not grow the tensor count', async () => {
    await initBackend('wasm');
    const model = buildModel('pw11', { inputShape: SHAPE, numClasses: 10, seed: 7 });
    const net = logitsModel(model);
    const xt = tf.tensor4d(inputs().x, [N, ...SHAPE]);
    const step = () =>
      tf.tidy(() => {
        const g = tf.grad((inp: tf.Tensor) => tf.sum(net.apply(inp) as tf.Tensor))(xt);
        g.dataSync();
      });
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    xt.dispose();
    model.dispose();
  });
});
