/** The explicit DFT basis and the Fourier (decorrelated) parameterization: orthonormal, exact round trips. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { realDft } from '../src/methods/actmax/dft.ts';
import { filterObjective } from '../src/methods/actmax/objective.ts';
import { maximize } from '../src/methods/actmax/optimize.ts';
import { fourierParameterization, pixelParameterization } from '../src/methods/actmax/parameterization.ts';
import { buildModel } from '../src/models/build.ts';
import { rng } from './helpers/quadrants.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('real DFT basis', () => {
  for (const n of [1, 7, 8, 28]) {
    it(`is orthonormal for n = ${n}`, () => {
      const { basis } = realDft(n);
      for (let a = 0; a < n; a++)
        for (let b = 0; b < n; b++) {
          let dot = 0;
          for (let x = 0; x < n; x++) dot += basis[x * n + a] * basis[x * n + b];
          expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-6);
        }
    });
  }

  it('puts a pure cosine of frequency k/n on one coefficient with frequency k/n', () => {
    const n = 12;
    const { basis, freqs } = realDft(n);
    const signal = Array.from({ length: n }, (_, x) => Math.cos((2 * Math.PI * 3 * x) / n));
    const coeffs = Array.from({ length: n }, (_, k) =>
      signal.reduce((s, v, x) => s + v * basis[x * n + k], 0),
    );
    const big = coeffs.map((c, k) => [Math.abs(c), k]).filter(([c]) => c > 1e-5);
    expect(big).toHaveLength(1);
    expect(freqs[big[0][1]]).toBeCloseTo(3 / 12, 12);
  });
});

describe('Fourier parameterization', () => {
  for (const [h, w, c] of [
    [28, 28, 1],
    [9, 12, 3],
  ] as const) {
    it(`round-trips image → spectrum → image (${h}×${w}×${c})`, () => {
      const r = rng(5);
      const pixels = Float32Array.from({ length: 2 * h * w * c }, () => 0.02 + 0.96 * r());
      const p = fourierParameterization(2, h, w, c, { range: [0, 1] });
      const before = tf.memory().numTensors;
      let back: Float32Array = new Float32Array(0);
      let spectrumShape: number[] = [];
      tf.tidy(() => {
        const img = tf.tensor4d(pixels, [2, h, w, c]);
        const spectrum = p.fromImage(img);
        spectrumShape = spectrum.shape;
        back = p.toImage(spectrum).dataSync() as Float32Array;
      });
      expect(tf.memory().numTensors).toBe(before);
      p.dispose();
      expect(spectrumShape).toEqual([2, c, h, w]);
      let maxErr = 0;
      for (let i = 0; i < pixels.length; i++) maxErr = Math.max(maxErr, Math.abs(back[i] - pixels[i]));
      expect(maxErr).toBeLessThan(2e-5);
    });
  }

  it('maps any spectrum into the range, and low frequencies dominate a random start', () => {
    const p = fourierParameterization(1, 16, 16, 3, { range: [-1, 2] });
    tf.tidy(() => {
      const img = p.toImage(tf.randomNormal([1, 3, 16, 16], 0, 5, 'float32', 1));
      const v = img.dataSync();
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...v)).toBeLessThanOrEqual(2);
    });
    p.dispose();
  });

  it('the pixel parameterization is the identity', () => {
    const p = pixelParameterization(1, 2, 2, 1);
    tf.tidy(() => {
      const x = tf.tensor4d([0.1, 0.2, 0.3, 0.4], [1, 2, 2, 1]);
      expect(Array.from(p.toImage(p.fromImage(x)).dataSync())).toEqual(Array.from(x.dataSync()));
    });
  });
});

describe('Fourier parameterization on an RGB model', () => {
  it('raises a filter objective with colour decorrelation, staying in range, leaking nothing', async () => {
    const model = buildModel('cnn1', { inputShape: [20, 20, 3], numClasses: 3, seed: 2 });
    const before = tf.memory().numTensors;
    const r = await maximize(model, [filterObjective('conv2', 1), filterObjective('conv2', 7)], {
      parameterization: 'fourier',
      steps: 25,
      learningRate: 0.05,
      jitter: 1,
    });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    for (const curve of r.curves) expect(curve.at(-1)!).toBeGreaterThan(curve[0]);
    expect(r.shape).toEqual([20, 20, 3]);
    for (const img of r.images) {
      expect(Math.min(...img)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...img)).toBeLessThanOrEqual(1);
    }
  });
});
