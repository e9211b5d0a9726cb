/**
 * Lucid's CPPN parameterization (Mordvintsev et al., "Differentiable Image Parameterizations", 2018):
 * the image is the output of a small per-image network of the pixel coordinates (x, y in ±√3): layers
 * of 1×1 "convolutions" (matmuls over positions) with Lucid's composite activation
 * [atan(z)/0.67, atan(z)²/0.6], then a sigmoid into the range. The optimized variable is every image's
 * weights, flattened [B, P]; its start is seeded random (N(0, 1/fan-in)), the last layer zero (a grey
 * start). Images it makes are smooth and compositional at any resolution; it cannot start from an image.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed } from '../../data/rng.ts';
import type { Parameterization } from './parameterization.ts';

export interface CppnOptions {
  range: [number, number];
  /** Hidden units per layer (default 24, as Lucid). */
  hidden?: number;
  /** Hidden layers (default 8, as Lucid). */
  layers?: number;
  seed?: number;
  /** Each image its own start weights (diversity); otherwise all start alike, as pixel runs do. */
  distinct?: boolean;
}

export function cppnParameterization(
  batch: number,
  h: number,
  w: number,
  c: number,
  o: CppnOptions,
): Parameterization {
  const [lo, hi] = o.range;
  const hidden = o.hidden ?? 24;
  const depth = o.layers ?? 8;
  // Layer shapes: 2 → hidden, then (2·hidden → hidden) × (depth − 1), then 2·hidden → c.
  const shapes: [number, number][] = [];
  for (let i = 0; i < depth; i++) shapes.push([i === 0 ? 2 : 2 * hidden, hidden]);
  shapes.push([2 * hidden, c]);
  const size = shapes.reduce((s, [i, j]) => s + i * j + j, 0);
  const r = Math.sqrt(3);
  const xy = new Float32Array(h * w * 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      xy[(y * w + x) * 2] = w > 1 ? -r + (2 * r * x) / (w - 1) : 0;
      xy[(y * w + x) * 2 + 1] = h > 1 ? -r + (2 * r * y) / (h - 1) : 0;
    }
  }
  const coords = tf.tensor3d(xy, [1, h * w, 2]);
  return {
    shape: [batch, size],
    toImage(p) {
      return tf.tidy(() => {
        const b = p.shape[0];
        let net: tf.Tensor = tf.tile(coords, [b, 1, 1]);
        let off = 0;
        shapes.forEach(([fin, fout], i) => {
          const kernel = p.slice([0, off], [b, fin * fout]).reshape([b, fin, fout]) as tf.Tensor3D;
          off += fin * fout;
          const bias = p.slice([0, off], [b, fout]).reshape([b, 1, fout]);
          off += fout;
          net = tf.matMul(net as tf.Tensor3D, kernel).add(bias);
          if (i < depth) {
            const a = tf.atan(net);
            net = tf.concat([a.div(0.67), a.square().div(0.6)], 2);
          }
        });
        return net
          .sigmoid()
          .mul(hi - lo)
          .add(lo)
          .reshape([b, h, w, c]) as tf.Tensor4D;
      });
    },
    fromImage() {
      throw new Error('the cppn parameterization cannot start from an image (no --start, no blur steps)');
    },
    init() {
      const values = new Float32Array(batch * size);
      for (let b = 0; b < batch; b++) {
        const rng = createRng(mixSeed(o.seed ?? 0, 3, o.distinct ? b : 0));
        const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
        let off = b * size;
        shapes.forEach(([fin, fout], i) => {
          const std = i < depth ? Math.sqrt(1 / fin) : 0;
          for (let k = 0; k < fin * fout; k++) values[off + k] = std * normal();
          off += fin * fout + fout; // biases start at 0
        });
      }
      return tf.tensor2d(values, [batch, size]);
    },
    needsClip: false,
    dispose() {
      coords.dispose();
    },
  };
}
