import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { layerFilters } from '../src/inspect/filters.ts';
import { defaultProbeLayers, probe, probeModel, resolveProbeLayers } from '../src/inspect/probe.ts';
import { buildModel } from '../src/models/build.ts';

let model: tf.LayersModel;
beforeAll(async () => {
  await initBackend('wasm');
  model = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
});
afterAll(() => model.dispose());

const input = (n: number) => Float32Array.from({ length: n * 784 }, (_, i) => ((i * 7919) % 1000) / 1000);

describe('layer probe', () => {
  it('defaults to every conv, pool and dense layer, and lists valid layers on an unknown name', () => {
    expect(defaultProbeLayers(model)).toEqual(['conv1', 'conv2', 'pool1', 'dense1', 'logits']);
    expect(() => resolveProbeLayers(model, ['conv9'])).toThrow(
      /unknown layer 'conv9' \(valid layers: conv1, conv2, pool1, dropout1, flatten, dense1, dropout2, logits, probs\)/,
    );
  });

  it('returns the same values as the layers computed one by one, in one pass', async () => {
    const x = input(3);
    const acts = await probe(model, x, 3);
    expect(acts.map((a) => [a.name, a.shape, a.spatial])).toEqual([
      ['conv1', [26, 26, 32], true],
      ['conv2', [24, 24, 64], true],
      ['pool1', [12, 12, 64], true],
      ['dense1', [128], false],
      ['logits', [10], false],
    ]);
    for (const name of ['conv2', 'dense1']) {
      const sub = tf.model({
        inputs: model.inputs,
        outputs: model.getLayer(name).output as tf.SymbolicTensor,
      });
      const t = tf.tidy(() => sub.predict(tf.tensor4d(x, [3, 28, 28, 1])) as tf.Tensor);
      const want = t.dataSync();
      t.dispose();
      const got = acts.find((a) => a.name === name)!.values;
      expect(got.length).toBe(want.length);
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
      expect(err).toBeLessThan(1e-5);
    }
  });

  it('caches the probe model and leaks no tensors across calls', async () => {
    const layers = resolveProbeLayers(model, ['conv1', 'dense1']);
    expect(probeModel(model, layers)).toBe(probeModel(model, resolveProbeLayers(model, ['conv1', 'dense1'])));
    const x = input(2);
    await probe(model, x, 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await probe(model, x, 2, ['conv1', 'dense1']);
    await probe(model, x, 2);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('works on a plain tf.sequential model (not built by convlens)', async () => {
    const seq = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3, name: 'c' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, name: 'd' }),
      ],
    });
    const acts = await probe(seq, new Float32Array(8 * 8 * 3).fill(0.5), 1);
    expect(acts.map((a) => a.name)).toEqual(['c', 'd']);
    expect(acts[0].values.length).toBe(6 * 6 * 2);
    seq.dispose();
  });
});

describe('filter weights', () => {
  it('lays kernels out per filter and input channel on a shared symmetric range', () => {
    const f = layerFilters(model, 'conv2');
    expect([f.kh, f.kw, f.inChannels, f.filters]).toEqual([3, 3, 32, 64]);
    const w = model.getLayer('conv2').getWeights()[0].arraySync() as number[][][][];
    expect(f.kernel(5, 7)[1 * 3 + 2]).toBeCloseTo(w[1][2][7][5], 7);
    expect(f.range.min).toBe(-f.range.max);
    expect(f.range.max).toBeCloseTo(Math.max(...w.flat(3).map(Math.abs)), 7);
    expect(() => layerFilters(model, 'pool1')).toThrow(/not a Conv2D layer/);
    expect(() => layerFilters(model, 'nope')).toThrow(/conv layers: conv1, conv2/);
  });
});
