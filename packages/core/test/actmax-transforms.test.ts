/** Jitter/scale/rotation and blur: exact on known cases, seeded, and differentiable through gather. */
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../src/data/rng.ts';
import { initBackend, tf } from '../src/engine/backend.ts';
import { affine, drawTransform, gaussianBlur, roll } from '../src/methods/actmax/transforms.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const ramp = (h: number, w: number, c = 1) =>
  tf.tensor4d(
    Float32Array.from({ length: h * w * c }, (_, i) => i),
    [1, h, w, c],
  );

describe('transforms', () => {
  it('roll is np.roll, and an integer-shift affine equals it', () => {
    tf.tidy(() => {
      const x = ramp(4, 5);
      const r = roll(x, 1, -2).reshape([4, 5]).arraySync() as number[][];
      // out[i][j] = x[i − 1][j + 2] with wrap-around.
      expect(r[0][0]).toBe(3 * 5 + 2);
      expect(r[2][4]).toBe(1 * 5 + 1);
      const a = affine(x, { dy: 1, dx: -2, scale: 1, angle: 0 });
      expect(Array.from(a.dataSync())).toEqual(Array.from(roll(x, 1, -2).dataSync()));
    });
  });

  it('a 90° rotation of a square image moves pixels exactly', () => {
    tf.tidy(() => {
      const x = ramp(3, 3);
      const r = affine(x, { dy: 0, dx: 0, scale: 1, angle: Math.PI / 2 })
        .reshape([3, 3])
        .arraySync() as number[][];
      const flat = r.flat().map((v) => Math.round(v * 1e4) / 1e4);
      expect([...flat].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]); // a permutation
      expect(flat[4]).toBe(4); // the centre stays
      expect(flat).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    });
  });

  it('the affine resampling is differentiable: its gradient is its transpose', () => {
    tf.tidy(() => {
      const t = { dy: 0.3, dx: -1.4, scale: 1.1, angle: 0.2 };
      const x = tf.randomUniform([1, 5, 6, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
      const y = tf.randomUniform([1, 5, 6, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
      // <A x, y> = <x, Aᵀ y>, and ∇ₓ<A x, y> = Aᵀ y: check the directional derivative along x.
      const g = tf.grad((v: tf.Tensor) =>
        affine(v as tf.Tensor4D, t)
          .mul(y)
          .sum(),
      )(x);
      const lhs = affine(x, t).mul(y).sum().dataSync()[0];
      const rhs = g.mul(x).sum().dataSync()[0];
      expect(rhs).toBeCloseTo(lhs, 4);
    });
  });

  it('draws are seeded and bounded', () => {
    const a = [createRng(5), createRng(5)].map((r) =>
      Array.from({ length: 50 }, () => drawTransform(r, 28, 28, { jitter: 0.1, scale: 0.05, rotate: 10 })),
    );
    expect(a[0]).toEqual(a[1]);
    for (const t of a[0]) {
      expect(Math.abs(t.dy)).toBeLessThanOrEqual(2); // floor(0.1 · 28)
      expect(Math.abs(t.scale - 1)).toBeLessThanOrEqual(0.05);
      expect(Math.abs(t.angle)).toBeLessThanOrEqual((10 * Math.PI) / 180);
    }
    expect(new Set(a[0].map((t) => t.dx)).size).toBe(5);
  });

  it('blur keeps a constant image and spreads a spike with unit mass', () => {
    tf.tidy(() => {
      const flat = gaussianBlur(tf.fill([1, 7, 7, 3], 0.4) as tf.Tensor4D, 1).dataSync();
      for (const v of flat) expect(v).toBeCloseTo(0.4, 5);
      const spike = tf.buffer([1, 9, 9, 1]);
      spike.set(1, 0, 4, 4, 0);
      const b = gaussianBlur(spike.toTensor() as tf.Tensor4D, 1).dataSync() as Float32Array;
      expect(b.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      expect(b[40]).toBeLessThan(0.5);
      expect(b[40]).toBe(Math.max(...b));
    });
  });
});
