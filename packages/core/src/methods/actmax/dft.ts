/**
 * A real, orthonormal Fourier basis as an explicit matrix. The wasm backend has no FFT kernels, and at
 * feature-visualization sizes (≤ a few hundred pixels a side) a DFT as a matrix product is fast enough
 * and differentiable with ordinary MatMul gradients. Columns: the constant, then cos/sin pairs of
 * frequency k = 1 … ⌈N/2⌉−1, then (N even) the Nyquist (−1)^n; the same span as the real and imaginary
 * parts of an rfft, so a 2D coefficient (ky, kx) has spatial frequency √(fy² + fx²) as in Lucid.
 */

export interface RealDft {
  n: number;
  /** n×n, row-major: basis[row n][column k]; orthonormal, so its transpose is its inverse. */
  basis: Float32Array;
  /** Frequency of each column in cycles per pixel (0 … 0.5). */
  freqs: Float64Array;
}

export function realDft(n: number): RealDft {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`DFT size must be a positive integer, got ${n}`);
  const basis = new Float32Array(n * n);
  const freqs = new Float64Array(n);
  const set = (col: number, f: (x: number) => number, freq: number) => {
    for (let x = 0; x < n; x++) basis[x * n + col] = f(x);
    freqs[col] = freq;
  };
  set(0, () => 1 / Math.sqrt(n), 0);
  let col = 1;
  const a = Math.sqrt(2 / n);
  for (let k = 1; 2 * k < n; k++) {
    set(col++, (x) => a * Math.cos((2 * Math.PI * k * x) / n), k / n);
    set(col++, (x) => a * Math.sin((2 * Math.PI * k * x) / n), k / n);
  }
  if (n % 2 === 0) set(col, (x) => (x % 2 === 0 ? 1 : -1) / Math.sqrt(n), 0.5);
  return { n, basis, freqs };
}

/** The transpose of an n×m row-major matrix. */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}
