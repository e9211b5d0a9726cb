/**
 * RISE (Petsiuk et al. 2018): the target's output on many randomly masked copies of the input,
 * each mask a coarse s×s grid of cells kept with probability p, bilinearly upsampled and shifted by a
 * random sub-cell offset; a pixel's saliency is the output averaged over masks weighted by how much
 * of it each mask kept, Σᵢ f(x ⊙ Mᵢ) Mᵢ / (N·p). Seeded; masked copies are evaluated in batches.
 * By default the outputs are centred on their mean first, Σᵢ (fᵢ − f̄) Mᵢ / (N·p): the paper's map
 * less its near-constant offset f̄ (a control variate that also removes the noise of uneven mask
 * coverage), signed — positive where keeping the pixel raises the output above the average.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, mixSeed, type Rng } from '../../data/rng.ts';
import { finish, positiveInteger, resolveTargets } from './common.ts';
import { fillColour } from './superpixels.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

export interface RiseOptions {
  /** Masks (default 512 on inputs up to 64 pixels a side, 256 above). */
  masks?: number;
  /** Grid cells per side of a mask (default 7, as the paper on ImageNet; 4 on inputs up to 64 pixels). */
  cells?: number;
  /** Probability of keeping a cell (default 0.5). */
  keep?: number;
  /** Value of masked-out pixels in the model's input space, or 'mean' for the image's mean colour (default 0). */
  fill?: number | 'mean';
  /** Masked copies per forward pass (default 64). */
  batch?: number;
  /** Centre the outputs on their mean (default true); false gives the paper's unsigned map. */
  center?: boolean;
  seed?: number;
}

/**
 * One RISE mask, [H·W] in [0, 1]: an s×s grid of cells kept with probability `keep`, upsampled
 * bilinearly to (s+1)·cell pixels a side (cell = ⌈H/s⌉) and cropped at a random offset below one cell.
 */
export function riseMask(H: number, W: number, s: number, keep: number, rng: Rng): Float32Array {
  const grid = Float32Array.from({ length: s * s }, () => (rng() < keep ? 1 : 0));
  const ch = Math.ceil(H / s);
  const cw = Math.ceil(W / s);
  const dy = Math.floor(rng() * ch);
  const dx = Math.floor(rng() * cw);
  const out = new Float32Array(H * W);
  const at = (gy: number, gx: number) =>
    grid[Math.min(s - 1, Math.max(0, gy)) * s + Math.min(s - 1, Math.max(0, gx))];
  for (let y = 0; y < H; y++) {
    // Pixel centres of the (s+1)·cell upsampled grid, in grid coordinates (half-pixel convention).
    const u = (y + dy + 0.5) / ch - 0.5;
    const y0 = Math.floor(u);
    const fy = u - y0;
    for (let x = 0; x < W; x++) {
      const v = (x + dx + 0.5) / cw - 0.5;
      const x0 = Math.floor(v);
      const fx = v - x0;
      out[y * W + x] =
        (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
        fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
    }
  }
  return out;
}

export const rise: ExplainMethod<RiseOptions> = {
  id: 'rise',
  title: 'RISE',
  description:
    'Class output on many copies of the input under random smooth masks, averaged per pixel by how much each mask kept it: a black-box importance map, smooth at the scale of the mask cells.',
  needsLayer: false,
  async explain(req: ExplainRequest<RiseOptions>): Promise<Explanation> {
    const o = req.options ?? {};
    const targets = resolveTargets(req.model, req);
    const [n, H, W, C] = req.input.shape;
    const small = Math.max(H, W) <= 64;
    const count = positiveInteger('masks', o.masks ?? (small ? 512 : 256));
    const cells = positiveInteger('cells', o.cells ?? (small ? 4 : 7));
    const batch = positiveInteger('batch', o.batch ?? 64);
    const keep = o.keep ?? 0.5;
    if (!(keep > 0 && keep <= 1)) throw new Error(`keep must be in (0, 1], got ${keep}`);
    if (cells > Math.min(H, W)) throw new Error(`cells ${cells} is more than the ${H}×${W} input has pixels`);
    const data = (await req.input.data()) as Float32Array;
    const per = H * W * C;
    const center = o.center ?? true;
    const sal = new Float32Array(n * H * W);
    const means: number[] = [];
    for (let i = 0; i < n; i++) {
      const image = data.subarray(i * per, (i + 1) * per);
      const fill = fillColour(image, C, o.fill ?? 0);
      const rng = createRng(mixSeed(o.seed ?? 0, i));
      const x = tf.tensor4d(image, [1, H, W, C]);
      const f = tf.tensor4d(fill, [1, 1, 1, C]);
      // Σ fᵢ Mᵢ, Σ Mᵢ and Σ fᵢ, so the map can be centred on f̄ at the end.
      let acc = [tf.zeros([1, H * W]), tf.zeros([1, H * W]), tf.zeros([1, 1])] as tf.Tensor2D[];
      for (let b0 = 0; b0 < count; b0 += batch) {
        const b = Math.min(batch, count - b0);
        const m = new Float32Array(b * H * W);
        for (let j = 0; j < b; j++) m.set(riseMask(H, W, cells, keep, rng), j * H * W);
        const next = tf.tidy(() => {
          const masks = tf.tensor2d(m, [b, H * W]);
          const m4 = tf.reshape(masks, [b, H, W, 1]);
          const copies = tf.add(tf.mul(x, m4), tf.mul(f, tf.sub(1, m4)));
          const p = tf.gather(req.model.apply(copies, { training: false }) as tf.Tensor2D, [targets[i]], 1);
          return [
            tf.add(acc[0], tf.matMul(p, masks, true, false)),
            tf.add(acc[1], tf.sum(masks, 0, true)),
            tf.add(acc[2], tf.sum(p, 0, true)),
          ] as tf.Tensor2D[];
        });
        tf.dispose(acc);
        acc = next;
      }
      const [fm, m, fs] = acc;
      const mean = (await fs.data())[0] / count;
      means.push(mean);
      sal.set(
        tf.tidy(() => tf.div(center ? tf.sub(fm, tf.mul(m, mean)) : fm, count * keep).dataSync()),
        i * H * W,
      );
      tf.dispose([...acc, x, f]);
    }
    const maps = tf.tensor3d(sal, [n, H, W]);
    try {
      return await finish('rise', maps, targets, center, {
        meta: {
          masks: count,
          cells,
          keep,
          fill: o.fill ?? 0,
          center,
          meanOutput: means,
          evaluations: count * n,
        },
      });
    } finally {
      maps.dispose();
    }
  },
};
