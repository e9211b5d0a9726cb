/**
 * How the optimized variable becomes an image. `pixel`: the variable is the image. `fourier`: Lucid's
 * decorrelated parameterization: coefficients of a real Fourier basis scaled by 1/frequency (so every
 * frequency learns at a similar rate), then (RGB) a fixed colour-decorrelation matrix, then a sigmoid
 * into the input range. Both map an image back to parameters exactly (a seed image, blur steps).
 * `cppn` (parameterization-cppn.ts): a small network of pixel coordinates whose weights are the variable.
 */
import * as tf from '@tensorflow/tfjs';
import { realDft, transpose } from './dft.ts';

export type ParameterizationName = 'pixel' | 'fourier' | 'cppn';
export const PARAMETERIZATIONS: readonly ParameterizationName[] = ['pixel', 'fourier', 'cppn'];

export interface Parameterization {
  /** Shape of the variable for a batch. */
  shape: number[];
  /** Differentiable: parameters → images [B, H, W, C] in the input range. */
  toImage(params: tf.Tensor): tf.Tensor4D;
  /** The inverse: images (inside the range) → parameters. */
  fromImage(images: tf.Tensor4D): tf.Tensor;
  /** Whether images must be clipped to the range after each step (the sigmoid already bounds fourier). */
  needsClip: boolean;
  /** Its own starting parameters (CPPN: seeded random weights), used instead of fromImage(start noise). */
  init?(): tf.Tensor;
  dispose(): void;
}

/** Lucid's colour_correlation_svd_sqrt (ImageNet), normalized by its largest column norm. */
const COLOR_SQRT = [0.26, 0.09, 0.02, 0.27, 0.0, -0.05, 0.27, -0.09, 0.03];

function colorMatrix(): { fwd: Float32Array; inv: Float32Array } {
  const m = COLOR_SQRT.slice();
  let maxNorm = 0;
  for (let c = 0; c < 3; c++) maxNorm = Math.max(maxNorm, Math.hypot(m[c], m[3 + c], m[6 + c]));
  for (let i = 0; i < 9; i++) m[i] /= maxNorm;
  // Row vectors are multiplied on the right by Mᵀ (Lucid: t_flat @ M.T).
  const mt = transpose(Float32Array.from(m), 3, 3);
  return { fwd: mt, inv: invert3(Array.from(mt)) };
}

function invert3(a: number[]): Float32Array {
  const [a0, a1, a2, b0, b1, b2, c0, c1, c2] = a;
  const det = a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0);
  const adj = [
    b1 * c2 - b2 * c1,
    a2 * c1 - a1 * c2,
    a1 * b2 - a2 * b1,
    b2 * c0 - b0 * c2,
    a0 * c2 - a2 * c0,
    a2 * b0 - a0 * b2,
    b0 * c1 - b1 * c0,
    a1 * c0 - a0 * c1,
    a0 * b1 - a1 * b0,
  ];
  return Float32Array.from(adj.map((v) => v / det));
}

export function pixelParameterization(batch: number, h: number, w: number, c: number): Parameterization {
  return {
    shape: [batch, h, w, c],
    toImage: (p) => p as tf.Tensor4D,
    fromImage: (img) => img.clone(),
    needsClip: true,
    dispose() {},
  };
}

export interface FourierOptions {
  /** Input range the sigmoid maps into. */
  range: [number, number];
  /** Colour decorrelation (3 channels only; default on for RGB). */
  decorrelate?: boolean;
  /** Spectrum scale exponent: 1/f^decay (Lucid's decay_power, default 1). */
  decay?: number;
}

/**
 * Variable [B, C, H, W] of basis coefficients. image = lo + (hi − lo)·σ(colour(A_h (S ⊙ scale) A_wᵀ)).
 * Each side is a plain MatMul against a precomputed (already transposed) matrix: no transposed MatMuls.
 */
export function fourierParameterization(
  batch: number,
  h: number,
  w: number,
  c: number,
  opts: FourierOptions,
): Parameterization {
  const [lo, hi] = opts.range;
  const dh = realDft(h);
  const dw = realDft(w);
  const decay = opts.decay ?? 1;
  // Lucid: 1 / max(f, 1/max(h, w))^decay, with its /4 magic constant folded in.
  const scale = new Float32Array(h * w);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const f = Math.hypot(dh.freqs[i], dw.freqs[j]);
      scale[i * w + j] = 1 / Math.max(f, 1 / Math.max(h, w)) ** decay / 4;
    }
  }
  const t = {
    ah: tf.tensor2d(dh.basis, [h, h]),
    aw: tf.tensor2d(dw.basis, [w, w]),
    ahT: tf.tensor2d(transpose(dh.basis, h, h), [h, h]),
    awT: tf.tensor2d(transpose(dw.basis, w, w), [w, w]),
    scale: tf.tensor2d(scale, [h, w]),
  };
  const decorrelate = c === 3 && (opts.decorrelate ?? true);
  const color = decorrelate ? colorMatrix() : null;
  const cFwd = color ? tf.tensor2d(color.fwd, [3, 3]) : null;
  const cInv = color ? tf.tensor2d(color.inv, [3, 3]) : null;

  // x [N, H, W] → x·M along the last axis.
  const rows = (x: tf.Tensor3D, m: tf.Tensor2D): tf.Tensor3D => {
    const [n, r, k] = x.shape;
    return x
      .reshape([n * r, k])
      .matMul(m)
      .reshape([n, r, m.shape[1]]);
  };
  // x [N, H, W] → Mᵀ·x along the middle axis.
  const cols = (x: tf.Tensor3D, m: tf.Tensor2D): tf.Tensor3D =>
    rows(x.transpose([0, 2, 1]), m).transpose([0, 2, 1]);
  const mixColor = (x: tf.Tensor4D, m: tf.Tensor2D | null): tf.Tensor4D =>
    m ? (x.reshape([-1, 3]).matMul(m).reshape(x.shape) as tf.Tensor4D) : x;

  return {
    shape: [batch, c, h, w],
    toImage(p) {
      return tf.tidy(() => {
        const [b] = p.shape;
        const s = (p as tf.Tensor4D).mul(t.scale).reshape([b * c, h, w]) as tf.Tensor3D;
        const spatial = cols(rows(s, t.awT), t.ahT); // A_h · S · A_wᵀ
        const nhwc = spatial.reshape([b, c, h, w]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
        return mixColor(nhwc, cFwd)
          .sigmoid()
          .mul(hi - lo)
          .add(lo) as tf.Tensor4D;
      });
    },
    fromImage(img) {
      return tf.tidy(() => {
        const [b] = img.shape;
        const eps = 1e-6;
        const u = img
          .sub(lo)
          .div(hi - lo)
          .clipByValue(eps, 1 - eps);
        const logit = u.div(tf.sub(1, u)).log() as tf.Tensor4D;
        const nchw = mixColor(logit, cInv)
          .transpose([0, 3, 1, 2])
          .reshape([b * c, h, w]) as tf.Tensor3D;
        const s = cols(rows(nchw, t.aw), t.ah); // A_hᵀ · Y · A_w
        return s.reshape([b, c, h, w]).div(t.scale);
      });
    },
    needsClip: false,
    dispose() {
      for (const x of Object.values(t)) x.dispose();
      cFwd?.dispose();
      cInv?.dispose();
    },
  };
}
