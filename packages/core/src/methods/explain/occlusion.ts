/**
 * Occlusion sensitivity (Zeiler & Fergus): slide a patch of a fill value over the input and record
 * how much the target class's probability drops; each pixel gets the mean drop of the patches that
 * covered it. Occluded copies are evaluated in batches.
 */
import * as tf from '@tensorflow/tfjs';
import { resolveTargets } from './common.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

export interface OcclusionOptions {
  /** Patch side in pixels (default: a seventh of the smaller side, at least 2). */
  patch?: number;
  /** Stride in pixels (default: half the patch). */
  stride?: number;
  /** Fill value of the patch in the model's input space (default 0). */
  fill?: number;
  /** Occluded copies per forward pass (default 64). */
  batch?: number;
}

/** Softmax probabilities of the model's output (already a softmax for convlens and Keras models). */
function probabilities(model: tf.LayersModel, x: tf.Tensor): tf.Tensor2D {
  return model.apply(x, { training: false }) as tf.Tensor2D;
}

export const occlusion: ExplainMethod<OcclusionOptions> = {
  id: 'occlusion',
  title: 'Occlusion',
  description:
    'Drop in the class probability when a patch of the input is hidden, per pixel: slow, model-agnostic, and directly about the output.',
  needsLayer: false,
  async explain(req: ExplainRequest<OcclusionOptions>): Promise<Explanation> {
    const targets = resolveTargets(req.model, req);
    const [n, H, W, C] = req.input.shape;
    const patch = req.options?.patch ?? Math.max(2, Math.round(Math.min(H, W) / 7));
    const stride = req.options?.stride ?? Math.max(1, Math.floor(patch / 2));
    const fill = req.options?.fill ?? 0;
    const batch = req.options?.batch ?? 64;
    for (const [k, v] of Object.entries({ patch, stride, batch }))
      if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${k} must be a positive integer, got ${v}`);
    if (patch > Math.min(H, W)) throw new Error(`patch ${patch} is larger than the ${H}×${W} input`);
    const ys: number[] = [];
    const xs: number[] = [];
    for (let y = 0; ; y += stride) {
      ys.push(Math.min(y, H - patch));
      if (y + patch >= H) break;
    }
    for (let x = 0; ; x += stride) {
      xs.push(Math.min(x, W - patch));
      if (x + patch >= W) break;
    }
    const positions = ys.flatMap((y) => xs.map((x) => [y, x] as const));
    const data = (await req.input.data()) as Float32Array;
    const per = H * W * C;
    const maps: Float32Array[] = [];
    const base = tf.tidy(() => probabilities(req.model, req.input).arraySync()) as number[][];
    for (let i = 0; i < n; i++) {
      const t = targets[i];
      const sum = new Float32Array(H * W);
      const cover = new Float32Array(H * W);
      const image = data.subarray(i * per, (i + 1) * per);
      for (let p0 = 0; p0 < positions.length; p0 += batch) {
        const chunk = positions.slice(p0, p0 + batch);
        const copies = new Float32Array(chunk.length * per);
        chunk.forEach(([y0, x0], j) => {
          const dst = copies.subarray(j * per, (j + 1) * per);
          dst.set(image);
          for (let y = y0; y < y0 + patch; y++) dst.fill(fill, (y * W + x0) * C, (y * W + x0 + patch) * C);
        });
        const probs = tf.tidy(() =>
          tf.gather(probabilities(req.model, tf.tensor4d(copies, [chunk.length, H, W, C])), [t], 1),
        );
        const p = (await probs.data()) as Float32Array;
        probs.dispose();
        chunk.forEach(([y0, x0], j) => {
          const drop = base[i][t] - p[j];
          for (let y = y0; y < y0 + patch; y++) {
            for (let x = x0; x < x0 + patch; x++) {
              sum[y * W + x] += drop;
              cover[y * W + x]++;
            }
          }
        });
      }
      maps.push(sum.map((s, k) => (cover[k] ? s / cover[k] : 0)));
    }
    const warnings = maps.map((m) => {
      if (m.some((v) => !Number.isFinite(v))) return ['NaN or infinite values in the map'];
      if (m.every((v) => v === 0)) return ['all-zero map: no patch changes the probability'];
      return [];
    });
    return {
      method: 'occlusion',
      maps,
      height: H,
      width: W,
      signed: true,
      targets,
      warnings,
      meta: {
        patch,
        stride,
        fill,
        evaluations: positions.length * n,
        baseProbability: targets.map((t, i) => base[i][t]),
      },
    };
  },
};
