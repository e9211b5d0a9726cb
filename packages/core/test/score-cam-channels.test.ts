// Faster-Score-CAM (Score-CAM's `channels` option): only the N channels of largest activation variance
// are scored, the others weighted 0, and the map says so; N ≥ K is plain Score-CAM.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { scoreCam } from '../src/methods/explain/score-cam.ts';

beforeAll(async () => {
  await initBackend('cpu');
});

/** 8×8×3 input → 1×1 identity conv 'c' (so its channels are the input's) → GAP → dense 3 → 2. */
function identityNet(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const c = tf.layers
    .conv2d({
      name: 'c',
      filters: 3,
      kernelSize: 1,
      useBias: false,
      weights: [tf.eye(3).reshape([1, 1, 3, 3])],
    })
    .apply(input) as tf.SymbolicTensor;
  const g = tf.layers.globalAveragePooling2d({}).apply(c) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 2, weights: [tf.tensor2d([1, 0, 0.5, 1, 2, 0], [3, 2]), tf.zeros([2])] })
    .apply(g) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('Score-CAM channels (Faster-Score-CAM)', () => {
  it('scores the channels of largest variance only, and N ≥ K is plain Score-CAM', async () => {
    const model = identityNet();
    // Channel 0 flat (variance 0), channel 1 a step (large variance), channel 2 a small ramp.
    const img = new Float32Array(8 * 8 * 3);
    for (let p = 0; p < 64; p++) {
      img[p * 3] = 0.5;
      img[p * 3 + 1] = p < 32 ? 1 : 0;
      img[p * 3 + 2] = (0.1 * (p % 8)) / 7;
    }
    const x = tf.tensor4d(img, [1, 8, 8, 3]);
    const full = await scoreCam.explain({ model, input: x, target: 0, layer: 'c' });
    const same = await scoreCam.explain({ model, input: x, target: 0, layer: 'c', options: { channels: 3 } });
    expect(Array.from(same.maps[0])).toEqual(Array.from(full.maps[0]));
    expect(full.warnings[0]).toEqual([]);
    expect(full.meta.evaluations).toBe(3);

    const before = tf.memory().numTensors;
    const fast = await scoreCam.explain({ model, input: x, target: 0, layer: 'c', options: { channels: 2 } });
    expect(tf.memory().numTensors).toBe(before);
    const w = (fast.meta.channelWeights as number[][])[0];
    expect(w[0]).toBe(0); // the flat channel is not scored
    expect(w[1] + w[2]).toBeCloseTo(1, 5);
    expect(fast.meta.evaluations).toBe(2);
    expect(fast.meta.channelsScored).toBe(2);
    expect(fast.warnings[0].join(' ')).toMatch(/Faster-Score-CAM: 2 of 3 channels/);
    // The top channel alone: all weight on the step, so the map is the step (top half only, after ReLU).
    const one = await scoreCam.explain({ model, input: x, target: 0, layer: 'c', options: { channels: 1 } });
    expect((one.meta.channelWeights as number[][])[0]).toEqual([0, 1, 0]);
    expect(one.maps[0][0]).toBeCloseTo(1, 5);
    expect(one.maps[0][63]).toBeCloseTo(0, 5);
    await expect(
      scoreCam.explain({ model, input: x, target: 0, layer: 'c', options: { channels: 0 } }),
    ).rejects.toThrow(/channels must be a positive integer/);
    x.dispose();
    model.dispose();
  });
});
