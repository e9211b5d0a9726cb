// Conductance against its identities: the layer's shares add up to F(x) − F(0) (completeness), and the
// neuron conductances of every channel of a layer that all paths cross add up to integrated gradients.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import {
  layerConductance,
  layerConductanceMethod,
  neuronConductance,
} from '../src/methods/explain/conductance.ts';
import { integratedGradients } from '../src/methods/explain/input-gradients.ts';
import { getExplainMethod } from '../src/methods/explain/registry.ts';

function net(): tf.LayersModel {
  const m = tf.sequential({ name: 'cond' });
  m.add(
    tf.layers.conv2d({
      inputShape: [8, 8, 2],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'c1',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      biasInitializer: 'ones',
    }),
  );
  m.add(
    tf.layers.conv2d({
      filters: 5,
      kernelSize: 3,
      activation: 'relu',
      name: 'c2',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  m.add(tf.layers.flatten({ name: 'f' }));
  m.add(
    tf.layers.dense({ units: 3, name: 'out', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
  );
  return m;
}

describe('conductance', () => {
  let model: tf.LayersModel;
  let x: tf.Tensor4D;
  beforeAll(async () => {
    await initBackend('cpu');
    model = net();
    x = tf.randomUniform([2, 8, 8, 2], 0, 1, 'float32', 7) as tf.Tensor4D;
  });

  it('layer conductance sums to F(x) − F(0)', async () => {
    const before = tf.memory().numTensors;
    const layer = model.getLayer('c2');
    const r = layerConductance(model, layer, x, [0, 2], 128);
    r.conductance.dispose();
    for (let i = 0; i < 2; i++) {
      expect(Math.abs(r.total[i] - r.scoreDifference[i])).toBeLessThan(
        0.02 * Math.abs(r.scoreDifference[i]) + 1e-3,
      );
    }
    expect(Math.abs(r.scoreDifference[0])).toBeGreaterThan(1e-3);
    expect(tf.memory().numTensors).toBe(before);
    const e = await layerConductanceMethod.explain({ model, input: x, target: 1, layer: 'c1' });
    expect(e.maps).toHaveLength(2);
    expect(e.height).toBe(8);
    expect(e.signed).toBe(true);
    const d = e.meta.convergenceDelta as number[];
    expect(Math.abs(d[0])).toBeLessThan(0.1 * Math.abs((e.meta.scoreDifference as number[])[0]) + 1e-3);
    expect(tf.memory().numTensors).toBe(before);
    expect(getExplainMethod('layer-conductance').id).toBe('layer-conductance');
  });

  it('neuron conductances over every channel of a layer add up to integrated gradients', async () => {
    const before = tf.memory().numTensors;
    const steps = 16;
    let sum = tf.zerosLike(x) as tf.Tensor;
    for (let c = 0; c < 4; c++) {
      const m = neuronConductance(model, x, [1, 1], { layer: 'c1', index: c }, steps);
      const next = tf.add(sum, m);
      tf.dispose([sum, m]);
      sum = next;
    }
    const got = tf.sum(sum, 3);
    const ig = await integratedGradients.explain({ model, input: x, target: 1, options: { steps } });
    const a = got.dataSync();
    const b = Float32Array.from(ig.maps.flatMap((m) => Array.from(m)));
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(b[i]));
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    }
    expect(maxAbs).toBeGreaterThan(1e-3);
    expect(maxDiff).toBeLessThan(1e-4 * maxAbs + 1e-6);
    // One channel alone is not the whole IG.
    const one = neuronConductance(model, x, [1, 1], { layer: 'c1', index: 0, position: [3, 3] }, 4);
    const oneSum = tf.tidy(() => tf.sum(tf.abs(one)).dataSync()[0]);
    expect(oneSum).toBeGreaterThan(0);
    tf.dispose([sum, got, one]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
