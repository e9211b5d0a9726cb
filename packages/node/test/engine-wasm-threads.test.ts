// The multi-threaded wasm engine (Node): starts with the requested pool, and computes what the
// single-threaded cpu backend computes, forward and backward.
import { initBackend, tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import { logitsModel } from '@convlens/core/models/logits';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultThreads, enableWasmThreads, wasmThreads } from '../src/engine/wasm-threads.ts';

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / Math.max(scale, 1e-12);
}

/** Input gradient and parameter gradients of pw11's logit sum, as flat arrays. */
function gradients(model: tf.LayersModel, x: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const net = logitsModel(model);
    const input = tf.tensor4d(x, [4, 28, 28, 1]);
    const f = (inp: tf.Tensor) => tf.sum(tf.mul(net.apply(inp) as tf.Tensor, tf.range(1, 11)));
    const dx = tf.grad(f)(input);
    const { grads } = tf.variableGrads(() => f(input) as tf.Scalar);
    const out = [dx.dataSync() as Float32Array];
    for (const k of Object.keys(grads).sort()) out.push(grads[k].dataSync() as Float32Array);
    return out.map((a) => Float32Array.from(a));
  });
}

describe('multi-threaded wasm', () => {
  beforeAll(async () => {
    enableWasmThreads(2);
    await initBackend('wasm');
  });

  it('runs a pool of the requested size', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmThreads()).toBe(2);
  });

  it('matches the cpu backend on conv, matmul and whole-model gradients', async () => {
    let s = 7;
    const rand = (n: number) =>
      Float32Array.from({ length: n }, () => {
        s = (s * 1103515245 + 12345) >>> 0;
        return s / 2 ** 32 - 0.5;
      });
    const a = rand(8 * 26 * 26 * 32);
    const w = rand(3 * 3 * 32 * 64);
    const x = rand(4 * 28 * 28);
    const run = () => {
      const conv = tf.tidy(() =>
        tf.conv2d(tf.tensor4d(a, [8, 26, 26, 32]), tf.tensor4d(w, [3, 3, 32, 64]), 1, 'valid').dataSync(),
      ) as Float32Array;
      const model = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
      const g = gradients(model, x);
      model.dispose();
      return [Float32Array.from(conv), ...g];
    };
    const before = tf.memory().numTensors;
    const threaded = run();
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend('cpu');
    const reference = run();
    await tf.setBackend('wasm');
    expect(threaded.length).toBe(reference.length);
    for (let i = 0; i < threaded.length; i++) expect(maxRelErr(threaded[i], reference[i])).toBeLessThan(1e-4);
  });

  it('reads the thread count from CONVLENS_THREADS, rejecting nonsense in one line', () => {
    expect(defaultThreads({ CONVLENS_THREADS: '3' })).toBe(3);
    expect(defaultThreads({})).toBe(1);
    expect(defaultThreads({ CONVLENS_THREADS: 'all' })).toBeGreaterThanOrEqual(1);
    expect(() => defaultThreads({ CONVLENS_THREADS: 'two' })).toThrow(
      /CONVLENS_THREADS must be a positive integer/,
    );
    expect(() => defaultThreads({ CONVLENS_THREADS: '0' })).toThrow(/positive integer/);
  });
});
