/** keras-vis TotalVariation / LPNorm: values against a float64 reference, gradients against finite differences. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { lpNorm, totalVariation, totalVariationOf } from '../src/methods/actmax/regularizers.ts';
import { rng } from './helpers/quadrants.ts';

const [H, W, C] = [5, 6, 2];

function image(seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: H * W * C }, () => r());
}

/** keras-vis's formula literally, for beta = 2: Σ (dy² + dx²) over the (H−1)×(W−1) corner block / (H·W·C). */
function kerasTv(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < H - 1; i++)
    for (let j = 0; j < W - 1; j++)
      for (let c = 0; c < C; c++) {
        const at = (y: number, xx: number) => x[(y * W + xx) * C + c];
        s += (at(i + 1, j) - at(i, j)) ** 2 + (at(i, j + 1) - at(i, j)) ** 2;
      }
  return s / (H * W * C);
}

function lpRef(x: Float64Array, p: number): number {
  return x.reduce((a, v) => a + Math.abs(v) ** p, 0) ** (1 / p) / x.length;
}

/** Central differences in float64 of f at x. */
function numericGrad(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-4): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const a = x.slice();
    const b = x.slice();
    a[i] += eps;
    b[i] -= eps;
    g[i] = (f(a) - f(b)) / (2 * eps);
  }
  return g;
}

function tfGrad(fn: (t: tf.Tensor4D) => tf.Tensor, x: Float64Array): { value: number; grad: Float32Array } {
  let value = 0;
  let grad: Float32Array = new Float32Array(0);
  tf.tidy(() => {
    const t = tf.tensor4d(Float32Array.from(x), [1, H, W, C]);
    const g = tf.valueAndGrad((v: tf.Tensor) => fn(v as tf.Tensor4D).sum() as tf.Scalar)(t);
    value = g.value.dataSync()[0];
    grad = g.grad.dataSync() as Float32Array;
  });
  return { value, grad };
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('total variation (keras-vis semantics)', () => {
  it('matches the keras-vis formula and the JS reference', () => {
    const x = image(1);
    const { value } = tfGrad((t) => totalVariation(t), x);
    expect(value).toBeCloseTo(kerasTv(x), 5);
    expect(totalVariationOf(x, H, W, C)).toBeCloseTo(kerasTv(x), 12);
    // A constant image has none. One interior spike of +1 on a 5×6×2 image: as the base point it adds
    // dy² + dx² = 2, and it is the lower/right neighbour of two other base points (1 each): 4 / 60.
    const flat = new Float64Array(H * W * C).fill(0.3);
    expect(totalVariationOf(flat, H, W, C)).toBe(0);
    flat[(2 * W + 2) * C] = 1.3;
    expect(totalVariationOf(flat, H, W, C)).toBeCloseTo(4 / 60, 12);
  });

  it('its gradient equals central finite differences (beta 2 and beta 3)', () => {
    const x = image(2);
    for (const beta of [2, 3]) {
      const { grad } = tfGrad((t) => totalVariation(t, beta), x);
      const num = numericGrad((v) => totalVariationOf(v, H, W, C, beta), x);
      let maxErr = 0;
      let maxAbs = 0;
      for (let i = 0; i < x.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(grad[i] - num[i]));
        maxAbs = Math.max(maxAbs, Math.abs(num[i]));
      }
      expect(maxAbs).toBeGreaterThan(0.01);
      expect(maxErr / maxAbs).toBeLessThan(1e-3);
    }
  });
});

describe('Lp norm (keras-vis LPNorm)', () => {
  it('value and gradient match the reference', () => {
    const x = image(3).map((v) => v - 0.5);
    const { value, grad } = tfGrad((t) => lpNorm(t, 6), x);
    expect(value).toBeCloseTo(lpRef(x, 6), 6);
    const num = numericGrad((v) => lpRef(v, 6), x, 1e-5);
    const scale = Math.max(...num.map(Math.abs));
    for (let i = 0; i < x.length; i++) expect(Math.abs(grad[i] - num[i]) / scale).toBeLessThan(1e-3);
  });
});
