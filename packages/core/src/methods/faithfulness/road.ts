/**
 * ROAD, "remove and debias" (Rong et al., ICML 2022): remove the top (MoRF) or bottom (LeRF)
 * fraction p of pixels by attribution and fill them by noisy linear imputation instead of a
 * constant. A constant fill leaks the removed shape (the model can read the mask's outline); the
 * imputed pixels follow their neighbourhood, so what remains is mainly the information the pixels
 * carried. A faithful map makes the MoRF curve fall fast (low AUC) and the LeRF curve stay high.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '../../data/rng.ts';
import { type RankBy, rankOrder } from '../../metrics/common.ts';

export interface ImputeOptions {
  /** Standard deviation of the Gaussian noise added to the imputed pixels (default 0.01). */
  noise?: number;
  /** Noise stream (default: seed 0). */
  rng?: Rng;
  /** Relative residual at which conjugate gradients stops (default 1e-6). */
  tolerance?: number;
  /** Conjugate-gradient iteration cap (default 1000). */
  maxIterations?: number;
}

// The paper's neighbour weights: 1/6 for the 4 edge neighbours, 1/12 for the 4 diagonals (sum 1).
// Flat typed arrays: the solver's inner loops run millions of times per table.
const DY = Int8Array.of(-1, 1, 0, 0, -1, -1, 1, 1);
const DX = Int8Array.of(0, 0, -1, 1, -1, 1, -1, 1);
const WT = Float64Array.of(1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 12, 1 / 12, 1 / 12, 1 / 12);

/** Standard normal sample (Box–Muller). */
function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/**
 * Noisy linear imputation of one H×W×C image (row-major HWC): every removed pixel becomes the
 * weighted mean of its in-image neighbours, removed neighbours being unknowns too. That is a sparse
 * symmetric positive definite system A·u = b per channel (A's diagonal: the pixel's total neighbour
 * weight; off-diagonal: −weight to removed neighbours; b: weighted kept neighbours), solved by
 * Jacobi-preconditioned conjugate gradients. Removed regions that touch no kept pixel have no data
 * to follow: they take the kept pixels' mean (0 when nothing is kept). Returns a new array.
 */
export function noisyLinearImpute(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  removed: Uint8Array,
  options: ImputeOptions = {},
): Float32Array {
  const n = height * width;
  if (image.length !== n * channels)
    throw new Error(`image has ${image.length} values, expected ${height}×${width}×${channels}`);
  if (removed.length !== n) throw new Error(`mask has ${removed.length} entries, image has ${n} pixels`);
  const noise = options.noise ?? 0.01;
  const rng = options.rng ?? createRng(0);
  const tol = options.tolerance ?? 1e-6;
  const maxIt = options.maxIterations ?? 1000;
  const out = image.slice();

  // Kept pixels' mean per channel: the fill of regions cut off from every kept pixel.
  const mean = new Float64Array(channels);
  let kept = 0;
  for (let p = 0; p < n; p++)
    if (!removed[p]) {
      kept++;
      for (let c = 0; c < channels; c++) mean[c] += image[p * channels + c];
    }
  for (let c = 0; c < channels; c++) mean[c] = kept ? mean[c] / kept : 0;

  // Removed pixels reachable from a kept one (flood fill through removed neighbours); the others
  // would make A singular, so they are fixed to the mean and act as known values.
  const reach = new Uint8Array(n);
  const queue: number[] = [];
  for (let p = 0; p < n; p++) {
    if (!removed[p]) continue;
    const y = Math.floor(p / width);
    const x = p % width;
    for (let k = 0; k < 8; k++) {
      const yy = y + DY[k];
      const xx = x + DX[k];
      if (yy >= 0 && yy < height && xx >= 0 && xx < width && !removed[yy * width + xx]) {
        reach[p] = 1;
        queue.push(p);
        break;
      }
    }
  }
  for (let q = 0; q < queue.length; q++) {
    const p = queue[q];
    const y = Math.floor(p / width);
    const x = p % width;
    for (let k = 0; k < 8; k++) {
      const yy = y + DY[k];
      const xx = x + DX[k];
      if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
      const r = yy * width + xx;
      if (removed[r] && !reach[r]) {
        reach[r] = 1;
        queue.push(r);
      }
    }
  }

  // Unknowns: reachable removed pixels, numbered; CSR-like neighbour lists.
  const index = new Int32Array(n).fill(-1);
  const unknown: number[] = [];
  for (let p = 0; p < n; p++) {
    if (!removed[p]) continue;
    if (reach[p]) {
      index[p] = unknown.length;
      unknown.push(p);
    } else for (let c = 0; c < channels; c++) out[p * channels + c] = mean[c];
  }
  const m = unknown.length;
  if (m > 0) {
    const diag = new Float64Array(m);
    const nbStart = new Int32Array(m + 1);
    const nbIdx = new Int32Array(m * 8);
    const nbW = new Float64Array(m * 8);
    let nb = 0;
    // Known neighbours' weighted sums per unknown and channel (right-hand side).
    const b = new Float64Array(m * channels);
    for (let i = 0; i < m; i++) {
      const p = unknown[i];
      const y = Math.floor(p / width);
      const x = p % width;
      nbStart[i] = nb;
      for (let k = 0; k < 8; k++) {
        const yy = y + DY[k];
        const xx = x + DX[k];
        if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
        const r = yy * width + xx;
        const w = WT[k];
        diag[i] += w;
        if (index[r] >= 0) {
          nbIdx[nb] = index[r];
          nbW[nb++] = w;
        } else for (let c = 0; c < channels; c++) b[i * channels + c] += w * out[r * channels + c];
      }
    }
    nbStart[m] = nb;
    const mul = (v: Float64Array, res: Float64Array) => {
      for (let i = 0; i < m; i++) {
        let s = diag[i] * v[i];
        for (let k = nbStart[i]; k < nbStart[i + 1]; k++) s -= nbW[k] * v[nbIdx[k]];
        res[i] = s;
      }
    };
    const u = new Float64Array(m);
    const r = new Float64Array(m);
    const z = new Float64Array(m);
    const d = new Float64Array(m);
    const ad = new Float64Array(m);
    for (let c = 0; c < channels; c++) {
      // Start from the channel's kept mean: a good guess, and the answer for constant images.
      u.fill(mean[c]);
      mul(u, ad);
      let bNorm = 0;
      for (let i = 0; i < m; i++) {
        r[i] = b[i * channels + c] - ad[i];
        bNorm += b[i * channels + c] ** 2;
      }
      const stop = tol * tol * Math.max(bNorm, 1e-30);
      let rz = 0;
      for (let i = 0; i < m; i++) {
        z[i] = r[i] / diag[i];
        d[i] = z[i];
        rz += r[i] * z[i];
      }
      for (let it = 0; it < maxIt; it++) {
        let rr = 0;
        for (let i = 0; i < m; i++) rr += r[i] * r[i];
        if (rr <= stop) break;
        mul(d, ad);
        let dad = 0;
        for (let i = 0; i < m; i++) dad += d[i] * ad[i];
        if (!(dad > 0)) break;
        const alpha = rz / dad;
        let rzNew = 0;
        for (let i = 0; i < m; i++) {
          u[i] += alpha * d[i];
          r[i] -= alpha * ad[i];
          z[i] = r[i] / diag[i];
          rzNew += r[i] * z[i];
        }
        const beta = rzNew / rz;
        rz = rzNew;
        for (let i = 0; i < m; i++) d[i] = z[i] + beta * d[i];
      }
      for (let i = 0; i < m; i++) out[unknown[i] * channels + c] = u[i];
    }
  }
  if (noise > 0)
    for (let p = 0; p < n; p++)
      if (removed[p]) for (let c = 0; c < channels; c++) out[p * channels + c] += noise * gaussian(rng);
  return out;
}

export interface RoadOptions {
  /** Fractions of pixels removed (default 0.1, 0.2, …, 0.9). */
  fractions?: number[];
  /** Imputation noise standard deviation, in the model's input units (default 0.01). */
  noise?: number;
  /** Seed of the imputation noise (default 0). */
  seed?: number;
  /** Images per forward pass (default 64). */
  batch?: number;
  /**
   * Pixel ranking: by signed value, most positive first (default), or by |a| (strong negative evidence
   * counts as relevant and is removed early too).
   */
  rank?: RankBy;
}

export interface RoadCurves {
  fractions: number[];
  /** Per input: target score after removing the most relevant fraction p (falls fast when faithful). */
  morf: number[][];
  /** Per input: target score after removing the least relevant fraction p (stays high when faithful). */
  lerf: number[][];
  /** Means over inputs, one per fraction. */
  meanMorf: number[];
  meanLerf: number[];
  /** Trapezoid areas over the fractions, normalized to the fraction range (mean scores in [0, 1] for probabilities). */
  morfAuc: number;
  lerfAuc: number;
}

/** Trapezoid area under a curve at the given x positions, divided by their span. */
export function areaOver(xs: number[], ys: number[]): number {
  if (ys.length < 2) return ys[0] ?? 0;
  let s = 0;
  for (let i = 1; i < ys.length; i++) s += ((ys[i - 1] + ys[i]) / 2) * (xs[i] - xs[i - 1]);
  return s / (xs[xs.length - 1] - xs[0]);
}

/** The mask removing the first round(p·n) pixels of an order. */
function maskOf(order: Uint32Array, p: number): Uint8Array {
  const mask = new Uint8Array(order.length);
  const k = Math.round(p * order.length);
  for (let i = 0; i < k; i++) mask[order[i]] = 1;
  return mask;
}

/**
 * ROAD curves for a batch [N, H, W, C], one target and one map ([H, W] row-major) per input. The
 * score is the model's output for the target (probabilities for the usual softmax models).
 */
export async function road(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  targets: number[],
  maps: Float32Array[],
  options: RoadOptions = {},
): Promise<RoadCurves> {
  const [N, H, W, C] = input.shape;
  const fractions = options.fractions ?? [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
  const batch = options.batch ?? 64;
  if (fractions.length === 0 || fractions.some((p) => !(p >= 0 && p <= 1)))
    throw new Error(`fractions must lie in [0, 1], got [${fractions}]`);
  if (fractions.some((p, i) => i > 0 && p <= fractions[i - 1]))
    throw new Error(`fractions must increase, got [${fractions}]`);
  if (targets.length !== N || maps.length !== N)
    throw new Error(`${N} inputs but ${targets.length} targets and ${maps.length} maps`);
  for (const m of maps)
    if (m.length !== H * W) throw new Error(`a map has ${m.length} values, the input has ${H * W} pixels`);
  const rng = createRng(options.seed ?? 0);
  const x = (await input.data()) as Float32Array;
  const size = H * W * C;
  const F = fractions.length;
  // Every input gives 2F imputed images (MoRF then LeRF); forward passes run over `batch` of them.
  const total = N * 2 * F;
  const scores = new Float32Array(total);
  const targetOf = (k: number) => targets[Math.floor(k / (2 * F))];
  let pending: { data: Float32Array; count: number; at: number } = {
    data: new Float32Array(Math.min(batch, total) * size),
    count: 0,
    at: 0,
  };
  const flush = async () => {
    if (pending.count === 0) return;
    const { data, count, at } = pending;
    const y = tf.tidy(() => {
      const xs = tf.tensor4d(data.subarray(0, count * size), [count, H, W, C]);
      const out = model.apply(xs, { training: false }) as tf.Tensor2D;
      const t = tf.tensor1d(
        Array.from({ length: count }, (_, k) => targetOf(at + k)),
        'int32',
      );
      return tf.sum(tf.mul(out, tf.oneHot(t, out.shape[1])), 1);
    });
    scores.set((await y.data()) as Float32Array, at);
    y.dispose();
    pending = { data, count: 0, at: at + count };
  };
  for (let i = 0; i < N; i++) {
    const image = x.subarray(i * size, (i + 1) * size);
    const morfOrder = rankOrder(maps[i], options.rank);
    // LeRF removes the least relevant first: the reverse of the MoRF ranking.
    const lerfOrder = morfOrder.slice().reverse();
    for (const order of [morfOrder, lerfOrder])
      for (const p of fractions) {
        const imputed = noisyLinearImpute(image, H, W, C, maskOf(order, p), { noise: options.noise, rng });
        pending.data.set(imputed, pending.count * size);
        pending.count++;
        if (pending.count * size === pending.data.length) await flush();
      }
  }
  await flush();
  const morf: number[][] = [];
  const lerf: number[][] = [];
  for (let i = 0; i < N; i++) {
    const s = Array.from(scores.subarray(i * 2 * F, (i + 1) * 2 * F));
    morf.push(s.slice(0, F));
    lerf.push(s.slice(F));
  }
  const mean = (rows: number[][]) => fractions.map((_, j) => rows.reduce((a, r) => a + r[j], 0) / (N || 1));
  const meanMorf = mean(morf);
  const meanLerf = mean(lerf);
  return {
    fractions,
    morf,
    lerf,
    meanMorf,
    meanLerf,
    morfAuc: areaOver(fractions, meanMorf),
    lerfAuc: areaOver(fractions, meanLerf),
  };
}
