// The sampling gradient methods against answers computed by hand: SmoothGrad² and VarGrad are the
// mean and variance of the gradient over SmoothGrad's noisy copies (a quadratic model, whose
// gradient is known in closed form); GradientSHAP and expected gradients are exact on a linear
// model (Σ = f(x) − mean f(references drawn)); DeepLIFT-SHAP is the mean of DeepLIFT per reference.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { deeplift } from '../src/methods/explain/deeplift.ts';
import { deepliftShap } from '../src/methods/explain/deeplift-shap.ts';
import { expectedGradients } from '../src/methods/explain/expected-gradients.ts';
import { gradientShap } from '../src/methods/explain/gradient-shap.ts';
import { smoothgradSq } from '../src/methods/explain/smoothgrad-sq.ts';
import { vargrad } from '../src/methods/explain/vargrad.ts';

function rand(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s / 2 ** 32) * scale + shift;
  });
}

/** f_t(x) = (A_t·x)(B_t·x) on 3×3×2 inputs: ∇f_t = A_t (B_t·x) + B_t (A_t·x). */
function quadratic(): { model: tf.LayersModel; A: number[][]; B: number[][] } {
  const input = tf.input({ shape: [3, 3, 2] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const a = tf.layers.dense({ units: 2, useBias: false, name: 'a' });
  const b = tf.layers.dense({ units: 2, useBias: false, name: 'b' });
  const out = tf.layers.multiply().apply([a.apply(flat), b.apply(flat)] as tf.SymbolicTensor[]);
  const model = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
  a.setWeights([tf.tensor2d(rand(36, 1, 2, -1), [18, 2])]);
  b.setWeights([tf.tensor2d(rand(36, 2, 2, -1), [18, 2])]);
  const A = a.getWeights()[0].arraySync() as number[][];
  const B = b.getWeights()[0].arraySync() as number[][];
  return { model, A, B };
}

function linearNet(): tf.LayersModel {
  const m = tf.sequential({ name: 'linear' });
  m.add(tf.layers.flatten({ inputShape: [6, 6, 3] }));
  m.add(
    tf.layers.dense({
      units: 3,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
      biasInitializer: 'ones',
    }),
  );
  return m;
}

/** conv(6, relu, same) → maxpool → conv(8, relu) → flatten → dense(4). */
function reluNet(): tf.LayersModel {
  const m = tf.sequential({ name: 'relu-net' });
  m.add(
    tf.layers.conv2d({
      inputShape: [10, 10, 2],
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.3, seed: 9 }),
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  return m;
}

describe('noise-tunnel variants of SmoothGrad', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('SmoothGrad² and VarGrad are the mean square and variance of the closed-form gradient over the same noisy copies', async () => {
    const { model, A, B } = quadratic();
    const x = tf.tensor4d(rand(2 * 18, 7, 1), [2, 3, 3, 2]);
    const targets = [0, 1];
    const samples = 6;
    const noise = 0.2;
    const before = tf.memory().numTensors;
    const sq = await smoothgradSq.explain({
      model,
      input: x,
      target: targets,
      options: { samples, noise, seed: 3, batch: 5 },
    });
    const vg = await vargrad.explain({
      model,
      input: x,
      target: targets,
      options: { samples, noise, seed: 3 },
    });
    expect(tf.memory().numTensors).toBe(before);
    // SmoothGrad's noise: σ = level × (max − min) of the batch, sample s seeded seed + s.
    const xv = x.dataSync();
    const sigma = noise * (Math.max(...xv) - Math.min(...xv));
    expect(sq.meta.sigma).toBeCloseTo(sigma, 6);
    const m1 = [new Float64Array(36), new Float64Array(36)];
    const m2 = [new Float64Array(36), new Float64Array(36)];
    for (let s = 0; s < samples; s++) {
      const n = tf.randomNormal([2, 3, 3, 2], 0, sigma, 'float32', 3 + s);
      const xn = Array.from(xv, (v, i) => v + n.dataSync()[i]);
      n.dispose();
      for (let i = 0; i < 2; i++) {
        const t = targets[i];
        const row = xn.slice(i * 18, (i + 1) * 18);
        const ax = row.reduce((acc, v, j) => acc + A[j][t] * v, 0);
        const bx = row.reduce((acc, v, j) => acc + B[j][t] * v, 0);
        for (let j = 0; j < 18; j++) {
          const g = A[j][t] * bx + B[j][t] * ax;
          m1[i][j] += g / samples;
          m2[i][j] += (g * g) / samples;
        }
      }
    }
    for (let i = 0; i < 2; i++)
      for (let p = 0; p < 9; p++) {
        const sqHand = m2[i][2 * p] + m2[i][2 * p + 1];
        const varHand = [0, 1].reduce((acc, c) => acc + m2[i][2 * p + c] - m1[i][2 * p + c] ** 2, 0);
        expect(sq.maps[i][p]).toBeCloseTo(sqHand, 4);
        expect(vg.maps[i][p]).toBeCloseTo(varHand, 4);
      }
    expect(Math.max(...vg.maps[0])).toBeGreaterThan(1e-3);
    x.dispose();
    model.dispose();
  });
});

describe('GradientSHAP, expected gradients, DeepLIFT-SHAP', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('are exact on a linear model: Σ attributions = f(x) − mean f(references drawn); zeros reference gives w ⊙ x', async () => {
    const model = linearNet();
    const x = tf.tensor4d(rand(2 * 108, 3, 2, -1), [2, 6, 6, 3]);
    const refs = tf.tensor4d(rand(5 * 108, 4, 2, -1), [5, 6, 6, 3]);
    const before = tf.memory().numTensors;
    for (const method of [gradientShap, expectedGradients]) {
      for (const baselines of ['noise', refs] as const) {
        const e = await method.explain({
          model,
          input: x,
          target: [2, 0],
          options: { baselines, samples: 7 },
        });
        const diff = e.meta.scoreDifference as number[];
        for (let i = 0; i < 2; i++) {
          expect(Math.abs(diff[i])).toBeGreaterThan(1e-2);
          expect(Math.abs((e.meta.convergenceDelta as number[])[i])).toBeLessThan(1e-4);
        }
      }
      // Against zeros every sample gives ∇f ⊙ x = w ⊙ x exactly, noise on the input or not.
      const e = await method.explain({
        model,
        input: x,
        target: [2, 0],
        options: { baselines: 'zeros', samples: 3 },
      });
      const w = model.layers[1].getWeights()[0].arraySync() as number[][];
      const xv = x.arraySync();
      for (let i = 0; i < 2; i++)
        for (let p = 0; p < 36; p++) {
          const t = [2, 0][i];
          const hand = [0, 1, 2].reduce(
            (a, c) => a + w[p * 3 + c][t] * xv[i][Math.floor(p / 6)][p % 6][c],
            0,
          );
          expect(e.maps[i][p]).toBeCloseTo(hand, 5);
        }
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, refs]);
    model.dispose();
  });

  it('DeepLIFT-SHAP is the mean of DeepLIFT over the references, complete within 1e-4 on a relu net', async () => {
    const model = reluNet();
    const x = tf.tensor4d(rand(2 * 200, 7, 2, -0.5), [2, 10, 10, 2]);
    const refs = tf.tensor4d(rand(3 * 200, 8, 2, -1), [3, 10, 10, 2]);
    const before = tf.memory().numTensors;
    const e = await deepliftShap.explain({
      model,
      input: x,
      target: [1, 3],
      options: { baselines: refs, batch: 4 },
    });
    expect(e.meta.references).toBe(3);
    const mean = [new Float64Array(100), new Float64Array(100)];
    for (let k = 0; k < 3; k++) {
      const ref = tf.tidy(() => tf.concat([refs.slice(k, 1), refs.slice(k, 1)]) as tf.Tensor4D);
      const d = await deeplift.explain({ model, input: x, target: [1, 3], options: { baseline: ref } });
      ref.dispose();
      for (let i = 0; i < 2; i++) for (let p = 0; p < 100; p++) mean[i][p] += d.maps[i][p] / 3;
    }
    for (let i = 0; i < 2; i++) {
      for (let p = 0; p < 100; p++) expect(e.maps[i][p]).toBeCloseTo(mean[i][p], 5);
      expect(Math.abs((e.meta.scoreDifference as number[])[i])).toBeGreaterThan(1e-3);
      expect(Math.abs((e.meta.convergenceDelta as number[])[i])).toBeLessThan(1e-4);
    }
    const noisy = await deepliftShap.explain({ model, input: x, target: [1, 3], options: { references: 5 } });
    expect(noisy.meta.references).toBe(5);
    expect(Math.max(...(noisy.meta.convergenceDelta as number[]).map(Math.abs))).toBeLessThan(1e-4);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, refs]);
    model.dispose();
  });
});
