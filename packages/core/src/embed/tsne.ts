/**
 * Exact t-SNE (van der Maaten & Hinton 2008) on the data's top 30 principal components, seeded: the same
 * seed gives the same map bit for bit. Hand-written because the npm ports (tsne-js, last published on
 * ndarray in 2016; @keckelt/tsne, a port of karpathy's tsnejs) take no seed. O(N²) memory and time per iteration: meant for the ≤ 3,000 points a map shows (2,000 points:
 * a 32 MB affinity matrix and ~15 ms an iteration). Optimisation as in scikit-learn: perplexity 30,
 * early exaggeration 12 for 250 iterations, momentum 0.5 then 0.8, learning rate max(N/48, 50), gains.
 */
import { createRng } from '../data/rng.ts';
import { checkStop, type JobHooks } from '../jobs/job.ts';
import { pca } from './pca.ts';

export interface TsneOptions {
  seed?: number;
  /** Effective number of neighbours (default 30, clamped below N/3). */
  perplexity?: number;
  /** Gradient iterations (default 1,000, the first 250 exaggerated). */
  iterations?: number;
  /** Principal components fed to t-SNE (default 30; 0: the raw features). */
  pcaComponents?: number;
}

export const TSNE_MAX_POINTS = 3000;

/** Row-major N×d input rows (PCA-reduced when wider than `dims`). */
function reduced(
  x: Float32Array,
  n: number,
  f: number,
  dims: number,
  seed: number,
): { y: Float64Array; d: number } {
  if (dims > 0 && f > dims) {
    const p = pca(x, n, f, { components: dims, seed, iterations: 3 });
    return { y: p.scores, d: p.k };
  }
  return { y: Float64Array.from(x), d: f };
}

/** Symmetric joint probabilities P (N×N, sum 1) with each row's Gaussian tuned to the perplexity. */
function affinities(y: Float64Array, n: number, d: number, perplexity: number): Float64Array {
  const d2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) {
        const t = y[i * d + c] - y[j * d + c];
        s += t * t;
      }
      d2[i * n + j] = s;
      d2[j * n + i] = s;
    }
  const p = new Float64Array(n * n);
  const target = Math.log(perplexity);
  for (let i = 0; i < n; i++) {
    // Binary search on β = 1/(2σ²) for the row's entropy to equal log(perplexity).
    let beta = 1;
    let lo = 0;
    let hi = Number.POSITIVE_INFINITY;
    const row = d2.subarray(i * n, (i + 1) * n);
    let minD = Number.POSITIVE_INFINITY;
    for (let j = 0; j < n; j++) if (j !== i && row[j] < minD) minD = row[j];
    for (let it = 0; it < 100; it++) {
      let sum = 0;
      let dsum = 0;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        // Shift by the nearest distance so exp() never underflows to all zeros.
        const e = Math.exp(-(row[j] - minD) * beta);
        p[i * n + j] = e;
        sum += e;
        dsum += (row[j] - minD) * e;
      }
      const h = Math.log(sum) + (beta * dsum) / sum;
      for (let j = 0; j < n; j++) p[i * n + j] /= sum;
      if (Math.abs(h - target) < 1e-5) break;
      if (h > target) {
        lo = beta;
        beta = hi === Number.POSITIVE_INFINITY ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = (beta + lo) / 2;
      }
    }
  }
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const v = Math.max((p[i * n + j] + p[j * n + i]) / (2 * n), 1e-12);
      p[i * n + j] = v;
      p[j * n + i] = v;
    }
  return p;
}

/** Row-major N×2 coordinates. */
export function tsne2d(
  x: Float32Array,
  n: number,
  f: number,
  opts: TsneOptions = {},
  hooks?: JobHooks,
): Float64Array {
  const seed = opts.seed ?? 1;
  if (n < 4) throw new Error(`tsne: needs at least 4 points, got ${n}`);
  if (n > TSNE_MAX_POINTS)
    throw new Error(`tsne: ${n} points; exact t-SNE is limited to ${TSNE_MAX_POINTS} (use --limit or umap)`);
  const iterations = opts.iterations ?? 1000;
  const perplexity = Math.min(opts.perplexity ?? 30, (n - 1) / 3);
  const { y, d } = reduced(x, n, f, opts.pcaComponents ?? 30, seed);
  const p = affinities(y, n, d, perplexity);
  checkStop(hooks, 'tsne');

  // A tiny seeded Gaussian start (scikit-learn's random init: σ = 1e-4).
  const rng = createRng(seed);
  const z = new Float64Array(n * 2);
  for (let i = 0; i < n * 2; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rng()));
    const a = 2 * Math.PI * rng();
    z[i] = 1e-4 * r * Math.cos(a);
    z[i + 1] = 1e-4 * r * Math.sin(a);
  }
  const lr = Math.max(n / 48, 50);
  const exaggerated = Math.min(250, iterations);
  const upd = new Float64Array(n * 2);
  const gains = new Float64Array(n * 2).fill(1);
  const grad = new Float64Array(n * 2);
  const q = new Float64Array(n * n);
  for (let it = 0; it < iterations; it++) {
    const ex = it < exaggerated ? 12 : 1;
    const momentum = it < exaggerated ? 0.5 : 0.8;
    // Student-t kernel q_ij ∝ 1/(1 + |z_i − z_j|²).
    let qsum = 0;
    for (let i = 0; i < n; i++) {
      const zi0 = z[i * 2];
      const zi1 = z[i * 2 + 1];
      for (let j = i + 1; j < n; j++) {
        const a = zi0 - z[j * 2];
        const b = zi1 - z[j * 2 + 1];
        const w = 1 / (1 + a * a + b * b);
        q[i * n + j] = w;
        qsum += 2 * w;
      }
    }
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      const zi0 = z[i * 2];
      const zi1 = z[i * 2 + 1];
      for (let j = i + 1; j < n; j++) {
        const w = q[i * n + j];
        // dC/dz_i = 4 Σ_j (ex·p_ij − q_ij) w_ij (z_i − z_j).
        const m = (ex * p[i * n + j] - w / qsum) * w;
        const g0 = m * (zi0 - z[j * 2]);
        const g1 = m * (zi1 - z[j * 2 + 1]);
        grad[i * 2] += g0;
        grad[i * 2 + 1] += g1;
        grad[j * 2] -= g0;
        grad[j * 2 + 1] -= g1;
      }
    }
    for (let k = 0; k < n * 2; k++) {
      const g = 4 * grad[k];
      // Delta-bar-delta gains: grow where the step keeps its direction, shrink where it flips.
      gains[k] = Math.sign(g) !== Math.sign(upd[k]) ? gains[k] + 0.2 : Math.max(gains[k] * 0.8, 0.01);
      upd[k] = momentum * upd[k] - lr * gains[k] * g;
      z[k] += upd[k];
    }
    if (it % 25 === 0 || it === iterations - 1) {
      hooks?.onProgress?.(it + 1, iterations, { phase: 'tsne' });
      checkStop(hooks, 'tsne');
    }
  }
  // Centre the map (t-SNE's coordinates have no meaningful origin).
  let m0 = 0;
  let m1 = 0;
  for (let i = 0; i < n; i++) {
    m0 += z[i * 2];
    m1 += z[i * 2 + 1];
  }
  for (let i = 0; i < n; i++) {
    z[i * 2] -= m0 / n;
    z[i * 2 + 1] -= m1 / n;
  }
  return z;
}
