/**
 * Weighted ridge regression, the surrogate fit of LIME (sklearn's Ridge with sample weights) and,
 * with alpha 0 and no intercept, KernelSHAP's weighted least squares.
 */
import { Matrix, solve } from 'ml-matrix';

export interface RidgeFit {
  coef: Float64Array;
  intercept: number;
  /** Weighted R² of the fit (sklearn's `score` with sample_weight): 1 is a perfect fit. */
  r2: number;
}

/**
 * Minimises Σᵢ wᵢ (yᵢ − b − xᵢ·β)² + alpha·|β|² (b unpenalised, fixed at 0 without intercept).
 * The intercept is handled the way sklearn does: centre X and y on their weighted means, solve for
 * β, then b = ȳ − x̄·β. Solved by SVD (least-norm) so rank-deficient designs still give an answer.
 */
export function weightedRidge(
  rows: ArrayLike<number>[],
  y: ArrayLike<number>,
  weights: ArrayLike<number>,
  alpha = 1,
  fitIntercept = true,
): RidgeFit {
  const n = rows.length;
  const d = n ? rows[0].length : 0;
  if (y.length !== n || weights.length !== n) throw new Error('rows, y and weights differ in length');
  let wSum = 0;
  const xMean = new Float64Array(d);
  let yMean = 0;
  if (fitIntercept) {
    for (let i = 0; i < n; i++) {
      const w = weights[i];
      wSum += w;
      yMean += w * y[i];
      for (let j = 0; j < d; j++) xMean[j] += w * rows[i][j];
    }
    if (!(wSum > 0)) throw new Error('sample weights sum to zero');
    yMean /= wSum;
    for (let j = 0; j < d; j++) xMean[j] /= wSum;
  }
  // Normal equations (XᶜᵀWXᶜ + αI) β = XᶜᵀW yᶜ, accumulated row by row (d is small: segments).
  const gram = new Float64Array(d * d);
  const rhs = new Float64Array(d);
  const xc = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    if (!w) continue;
    for (let j = 0; j < d; j++) xc[j] = rows[i][j] - xMean[j];
    const yc = y[i] - yMean;
    for (let j = 0; j < d; j++) {
      if (!xc[j]) continue;
      const wx = w * xc[j];
      rhs[j] += wx * yc;
      for (let k = j; k < d; k++) gram[j * d + k] += wx * xc[k];
    }
  }
  const a = new Matrix(d, d);
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) {
      a.set(j, k, gram[j * d + k]);
      a.set(k, j, gram[j * d + k]);
    }
    a.set(j, j, gram[j * d + j] + alpha);
  }
  const coef = d
    ? Float64Array.from(solve(a, Matrix.columnVector(Array.from(rhs)), true).getColumn(0))
    : new Float64Array(0);
  let intercept = yMean;
  for (let j = 0; j < d; j++) intercept -= xMean[j] * coef[j];
  return { coef, intercept, r2: weightedR2(rows, y, weights, coef, intercept) };
}

/** 1 − Σw(y − ŷ)² / Σw(y − ȳ_w)²; 1 when y is constant and fitted exactly. */
function weightedR2(
  rows: ArrayLike<number>[],
  y: ArrayLike<number>,
  weights: ArrayLike<number>,
  coef: Float64Array,
  intercept: number,
): number {
  let wSum = 0;
  let yMean = 0;
  for (let i = 0; i < y.length; i++) {
    wSum += weights[i];
    yMean += weights[i] * y[i];
  }
  yMean /= wSum || 1;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < y.length; i++) {
    let pred = intercept;
    for (let j = 0; j < coef.length; j++) pred += coef[j] * rows[i][j];
    ssRes += weights[i] * (y[i] - pred) ** 2;
    ssTot += weights[i] * (y[i] - yMean) ** 2;
  }
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}
