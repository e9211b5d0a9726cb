/**
 * Non-negative matrix factorization V ≈ W·H (V n×m ≥ 0, W n×k, H k×m) by Lee & Seung's multiplicative
 * updates on the Frobenius error, from a seeded random start scaled as scikit-learn's init='random'
 * (√(mean V / k)). No npm package does NMF (ml-ngmca is a different problem), and the sizes here
 * (a layer's channels × positions) are small enough for plain loops.
 */
import { createRng } from '../../data/rng.ts';

export interface NmfOptions {
  /** Most update rounds (default 300). */
  iterations?: number;
  /** Stop when the relative error improves by less than this over 10 rounds (default 1e-5). */
  tolerance?: number;
  seed?: number;
}

export interface NmfResult {
  /** n×k, row-major. */
  w: Float64Array;
  /** k×m, row-major. */
  h: Float64Array;
  k: number;
  /** ‖V − WH‖_F / ‖V‖_F at the end. */
  relativeError: number;
  iterations: number;
}

const EPS = 1e-12;

/** a (r×s) · b (s×t) → r×t. */
function mul(a: Float64Array, b: Float64Array, r: number, s: number, t: number): Float64Array {
  const out = new Float64Array(r * t);
  for (let i = 0; i < r; i++) {
    const oi = i * t;
    for (let p = 0; p < s; p++) {
      const av = a[i * s + p];
      if (av === 0) continue;
      const bp = p * t;
      for (let j = 0; j < t; j++) out[oi + j] += av * b[bp + j];
    }
  }
  return out;
}

/** aᵀ for a (r×s). */
function tr(a: Float64Array, r: number, s: number): Float64Array {
  const out = new Float64Array(r * s);
  for (let i = 0; i < r; i++) for (let j = 0; j < s; j++) out[j * r + i] = a[i * s + j];
  return out;
}

export function nmf(v: ArrayLike<number>, n: number, m: number, k: number, o: NmfOptions = {}): NmfResult {
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`k must be a positive integer, got ${k}`);
  if (v.length !== n * m) throw new Error(`NMF input has ${v.length} values, expected ${n}×${m}`);
  const V = Float64Array.from(v);
  let sum = 0;
  let norm2 = 0;
  for (const x of V) {
    if (!(x >= 0)) throw new Error(`NMF needs non-negative finite values, got ${x}`);
    sum += x;
    norm2 += x * x;
  }
  const iterations = o.iterations ?? 300;
  const tol = o.tolerance ?? 1e-5;
  const rng = createRng(o.seed ?? 0);
  const scale = Math.sqrt(sum / (n * m) / k);
  // Absolute values of normals, as scikit-learn's init='random'.
  const normal = () => Math.abs(Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
  const w = Float64Array.from({ length: n * k }, () => scale * normal() + EPS);
  const h = Float64Array.from({ length: k * m }, () => scale * normal() + EPS);
  const error = () => {
    const wh = mul(w, h, n, k, m);
    let e = 0;
    for (let i = 0; i < wh.length; i++) e += (V[i] - wh[i]) ** 2;
    return Math.sqrt(e / Math.max(norm2, EPS));
  };
  let last = error();
  let it = 0;
  for (it = 1; it <= iterations; it++) {
    // H ← H ⊙ (WᵀV) / (WᵀW H)
    const wt = tr(w, n, k);
    const num = mul(wt, V, k, n, m);
    const den = mul(mul(wt, w, k, n, k), h, k, k, m);
    for (let i = 0; i < h.length; i++) h[i] *= num[i] / (den[i] + EPS);
    // W ← W ⊙ (V Hᵀ) / (W H Hᵀ)
    const ht = tr(h, k, m);
    const numW = mul(V, ht, n, m, k);
    const denW = mul(w, mul(h, ht, k, m, k), n, k, k);
    for (let i = 0; i < w.length; i++) w[i] *= numW[i] / (denW[i] + EPS);
    if (it % 10 === 0) {
      const e = error();
      if (last - e < tol * Math.max(last, EPS)) {
        last = e;
        break;
      }
      last = e;
    }
  }
  return { w, h, k, relativeError: error(), iterations: Math.min(it, iterations) };
}
