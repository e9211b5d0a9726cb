/**
 * Transformation robustness (Lucid): each step sees the image randomly shifted, scaled and rotated, so
 * the result cannot rely on exact pixel alignment. Draws come from a seeded generator and are shared by
 * the whole batch, so a batched run equals the same objectives run one by one. Wrap-around borders:
 * a pure integer shift is exactly keras-vis's Jitter (np.roll).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../data/rng.ts';

export interface TransformOptions {
  /** Max shift: pixels when ≥ 1, a fraction of height/width when < 1 (keras-vis Jitter). 0 = none. */
  jitter?: number;
  /** Max relative scale change: factors in [1 − s, 1 + s]. */
  scale?: number;
  /** Max rotation in degrees, either way. */
  rotate?: number;
}

export interface StepTransform {
  dy: number;
  dx: number;
  scale: number;
  /** Radians. */
  angle: number;
}

/** Draws one step's transform. Integer shifts; scale/angle only when enabled (keeps the rng stream stable). */
export function drawTransform(rng: Rng, h: number, w: number, o: TransformOptions): StepTransform {
  const j = o.jitter ?? 0;
  const jy = j >= 1 ? Math.floor(j) : Math.floor(j * h);
  const jx = j >= 1 ? Math.floor(j) : Math.floor(j * w);
  const int = (m: number) => (m > 0 ? Math.floor(rng() * (2 * m + 1)) - m : 0);
  const dy = int(jy);
  const dx = int(jx);
  const scale = o.scale ? 1 + (2 * rng() - 1) * o.scale : 1;
  const angle = o.rotate ? ((2 * rng() - 1) * o.rotate * Math.PI) / 180 : 0;
  return { dy, dx, scale, angle };
}

export const isIdentity = (t: StepTransform) => t.dy === 0 && t.dx === 0 && t.scale === 1 && t.angle === 0;

/** Circular shift along H and W (np.roll): out[i, j] = x[i − dy, j − dx]. Differentiable (slices + concat). */
export function roll(x: tf.Tensor4D, dy: number, dx: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    let y = x;
    const sy = ((dy % h) + h) % h;
    if (sy)
      y = tf.concat(
        [y.slice([0, h - sy, 0, 0], [-1, sy, -1, -1]), y.slice([0, 0, 0, 0], [-1, h - sy, -1, -1])],
        1,
      );
    const sx = ((dx % w) + w) % w;
    if (sx)
      y = tf.concat(
        [y.slice([0, 0, w - sx, 0], [-1, -1, sx, -1]), y.slice([0, 0, 0, 0], [-1, -1, w - sx, -1])],
        2,
      );
    return y;
  });
}

/**
 * Bilinear resampling under shift·scale·rotation about the centre, as four gathers over the flattened
 * pixels (gather's gradient is a segment sum, which the engine provides). Wrap-around borders.
 */
export function affine(x: tf.Tensor4D, t: StepTransform): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const n = h * w;
  const idx = [0, 1, 2, 3].map(() => new Int32Array(n));
  const wts = [0, 1, 2, 3].map(() => new Float32Array(n));
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const cos = Math.cos(t.angle) / t.scale;
  const sin = Math.sin(t.angle) / t.scale;
  const wrap = (v: number, m: number) => ((v % m) + m) % m;
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      // Inverse map: output pixel → source point.
      const yy = i - t.dy - cy;
      const xx = j - t.dx - cx;
      const sy = cos * yy - sin * xx + cy;
      const sx = sin * yy + cos * xx + cx;
      const y0 = Math.floor(sy);
      const x0 = Math.floor(sx);
      const fy = sy - y0;
      const fx = sx - x0;
      const p = i * w + j;
      const corners: [number, number, number][] = [
        [y0, x0, (1 - fy) * (1 - fx)],
        [y0, x0 + 1, (1 - fy) * fx],
        [y0 + 1, x0, fy * (1 - fx)],
        [y0 + 1, x0 + 1, fy * fx],
      ];
      corners.forEach(([yy0, xx0, wt], k) => {
        idx[k][p] = wrap(yy0, h) * w + wrap(xx0, w);
        wts[k][p] = wt;
      });
    }
  }
  return tf.tidy(() => {
    const flat = x.reshape([b, n, c]);
    let out: tf.Tensor = tf.zeros([b, n, c]);
    for (let k = 0; k < 4; k++) {
      const g = tf.gather(flat, tf.tensor1d(idx[k], 'int32'), 1);
      out = out.add(g.mul(tf.tensor3d(wts[k], [1, n, 1])));
    }
    return out.reshape([b, h, w, c]) as tf.Tensor4D;
  });
}

/** Applies a step's transform: a roll for pure shifts (exact and cheap), bilinear resampling otherwise. */
export function applyTransform(x: tf.Tensor4D, t: StepTransform): tf.Tensor4D {
  if (isIdentity(t)) return x;
  if (t.scale === 1 && t.angle === 0) return roll(x, t.dy, t.dx);
  return affine(x, t);
}

/** Gaussian blur (same size, per channel), for the optional blur-every-N-steps prior. Not differentiated. */
export function gaussianBlur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.tidy((): tf.Tensor4D => {
    const c = x.shape[3];
    const r = Math.max(1, Math.ceil(2 * sigma));
    const k1 = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
    const s = k1.reduce((a, v) => a + v, 0);
    const k = 2 * r + 1;
    const kernel = new Float32Array(k * k * c);
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++)
        for (let ch = 0; ch < c; ch++) kernel[(i * k + j) * c + ch] = (k1[i] * k1[j]) / (s * s);
    // Reflect-pad so the borders are not darkened by zero padding.
    const padded: tf.Tensor4D = x.mirrorPad(
      [
        [0, 0],
        [r, r],
        [r, r],
        [0, 0],
      ],
      'reflect',
    );
    return tf.depthwiseConv2d(padded, tf.tensor4d(kernel, [k, k, c, 1]), 1, 'valid') as tf.Tensor4D;
  });
}
