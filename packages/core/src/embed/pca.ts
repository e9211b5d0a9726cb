/**
 * Principal components of a row-major N×F matrix by seeded randomized subspace iteration (Halko,
 * Martinsson & Tropp 2011, algorithm 4.4): a few passes over the data instead of an F×F covariance or a
 * full SVD — ml-pca took 37 s on 2,000 × 1,024 here; this takes well under a second. The data are
 * centred (implicitly, never copied: flattened conv features can be hundreds of MB) but not scaled:
 * every feature is an activation in the same units, and scaling would lift near-dead units, whose
 * variations are noise, to the weight of the units that carry the signal.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { createRng } from '../data/rng.ts';

export interface PcaResult {
  /** Row-major N×k scores (the centred data projected on the components). */
  scores: Float64Array;
  k: number;
  /** Row-major k×F unit components. */
  components: Float64Array;
  /** Column means (the centre). */
  mean: Float64Array;
  /** Variance along each component (divided by N − 1). */
  variance: number[];
  /** Each component's share of the total variance. */
  explained: number[];
}

export interface PcaOptions {
  /** Default 2. */
  components?: number;
  /** Seed of the random start (default 1); results agree across seeds up to the iteration's precision. */
  seed?: number;
  /** Power iterations (default 6): more sharpen components whose variances are close. */
  iterations?: number;
}

/** Gaussian draws from a uniform generator (Box–Muller). */
function gaussians(count: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** (X − 1μᵀ) · B for B F×l (row-major): N×l. */
function timesRight(
  x: Float32Array,
  n: number,
  f: number,
  mean: Float64Array,
  b: Float64Array,
  l: number,
): Float64Array {
  const out = new Float64Array(n * l);
  const mb = new Float64Array(l);
  for (let j = 0; j < f; j++) for (let c = 0; c < l; c++) mb[c] += mean[j] * b[j * l + c];
  for (let i = 0; i < n; i++) {
    const row = i * f;
    const o = i * l;
    for (let j = 0; j < f; j++) {
      const v = x[row + j];
      if (v === 0) continue; // ReLU features are mostly zeros
      const bj = j * l;
      for (let c = 0; c < l; c++) out[o + c] += v * b[bj + c];
    }
    for (let c = 0; c < l; c++) out[o + c] -= mb[c];
  }
  return out;
}

/** (X − 1μᵀ)ᵀ · Y for Y N×l: F×l. */
function timesLeft(
  x: Float32Array,
  n: number,
  f: number,
  mean: Float64Array,
  y: Float64Array,
  l: number,
): Float64Array {
  const out = new Float64Array(f * l);
  const colSum = new Float64Array(l);
  for (let i = 0; i < n; i++) {
    const row = i * f;
    const yi = i * l;
    for (let c = 0; c < l; c++) colSum[c] += y[yi + c];
    for (let j = 0; j < f; j++) {
      const v = x[row + j];
      if (v === 0) continue;
      const oj = j * l;
      for (let c = 0; c < l; c++) out[oj + c] += v * y[yi + c];
    }
  }
  for (let j = 0; j < f; j++) for (let c = 0; c < l; c++) out[j * l + c] -= mean[j] * colSum[c];
  return out;
}

/** Orthonormalizes the l columns of a rows×l row-major matrix in place (modified Gram–Schmidt, twice). */
function orthonormalize(a: Float64Array, rows: number, l: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let c = 0; c < l; c++) {
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let r = 0; r < rows; r++) dot += a[r * l + c] * a[r * l + p];
        for (let r = 0; r < rows; r++) a[r * l + c] -= dot * a[r * l + p];
      }
      let norm = 0;
      for (let r = 0; r < rows; r++) norm += a[r * l + c] ** 2;
      norm = Math.sqrt(norm);
      // A column that collapsed (rank below l) becomes zero rather than noise blown up to unit length.
      const s = norm > 1e-12 ? 1 / norm : 0;
      for (let r = 0; r < rows; r++) a[r * l + c] *= s;
    }
  }
}

export function pca(x: Float32Array, n: number, f: number, opts: PcaOptions = {}): PcaResult {
  if (x.length !== n * f) throw new Error(`pca: data has ${x.length} values, not ${n} × ${f}`);
  const k = Math.max(1, Math.min(opts.components ?? 2, n, f));
  const l = Math.min(k + 10, n, f);
  const iterations = opts.iterations ?? 6;

  const mean = new Float64Array(f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) mean[j] += x[i * f + j];
  for (let j = 0; j < f; j++) mean[j] /= n;
  let total = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < f; j++) {
      const d = x[i * f + j] - mean[j];
      total += d * d;
    }
  total /= Math.max(1, n - 1);

  // Range finder: Q spans the top of X's column space; each power iteration sharpens it.
  let q = timesRight(x, n, f, mean, gaussians(f * l, opts.seed ?? 1), l);
  orthonormalize(q, n, l);
  for (let it = 0; it < iterations; it++) {
    const z = timesLeft(x, n, f, mean, q, l);
    orthonormalize(z, f, l);
    q = timesRight(x, n, f, mean, z, l);
    orthonormalize(q, n, l);
  }
  // B = Qᵀ X̃ (l×F, stored transposed as F×l); the eigenvectors of B Bᵀ rotate Q onto the components.
  const bt = timesLeft(x, n, f, mean, q, l);
  const bbt = new Matrix(l, l);
  for (let a = 0; a < l; a++)
    for (let c = a; c < l; c++) {
      let s = 0;
      for (let j = 0; j < f; j++) s += bt[j * l + a] * bt[j * l + c];
      bbt.set(a, c, s);
      bbt.set(c, a, s);
    }
  const evd = new EigenvalueDecomposition(bbt, { assumeSymmetric: true });
  const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((p, r) => r[0] - p[0]);
  const vecs = evd.eigenvectorMatrix;

  const scores = new Float64Array(n * k);
  const components = new Float64Array(k * f);
  const variance: number[] = [];
  for (let c = 0; c < k; c++) {
    const [lambda, idx] = order[c];
    const sigma = Math.sqrt(Math.max(0, lambda));
    variance.push((sigma * sigma) / Math.max(1, n - 1));
    // Scores = Q u (times sigma); component = Bᵀ u / sigma.
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let a = 0; a < l; a++) s += q[i * l + a] * vecs.get(a, idx);
      scores[i * k + c] = s * sigma;
    }
    for (let j = 0; j < f; j++) {
      let s = 0;
      for (let a = 0; a < l; a++) s += bt[j * l + a] * vecs.get(a, idx);
      components[c * f + j] = sigma > 0 ? s / sigma : 0;
    }
    // A component's sign is arbitrary: fix it (largest score positive) so seeds and runs agree.
    let best = 0;
    for (let i = 0; i < n; i++) if (Math.abs(scores[i * k + c]) > Math.abs(best)) best = scores[i * k + c];
    if (best < 0) {
      for (let i = 0; i < n; i++) scores[i * k + c] = -scores[i * k + c];
      for (let j = 0; j < f; j++) components[c * f + j] = -components[c * f + j];
    }
  }
  const explained = variance.map((v) => (total > 0 ? v / total : 0));
  return { scores, k, components, mean, variance, explained };
}
