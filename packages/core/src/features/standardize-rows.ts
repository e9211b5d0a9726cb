/**
 * Column standardization of feature rows (z = (x − mean) / std), fitted on training rows only — inside
 * each cross-validation fold, so no statistic of a held-out row leaks into the model. Columns with no
 * spread (a dead ReLU channel) keep std 1, so they become 0 instead of NaN.
 */
export interface RowStandardizer {
  mean: number[];
  std: number[];
}

export function fitStandardizer(x: Float32Array, f: number, rows: ArrayLike<number>): RowStandardizer {
  const mean = new Float64Array(f);
  const sq = new Float64Array(f);
  for (let k = 0; k < rows.length; k++) {
    const o = rows[k] * f;
    for (let j = 0; j < f; j++) mean[j] += x[o + j];
  }
  const n = Math.max(rows.length, 1);
  for (let j = 0; j < f; j++) mean[j] /= n;
  for (let k = 0; k < rows.length; k++) {
    const o = rows[k] * f;
    for (let j = 0; j < f; j++) sq[j] += (x[o + j] - mean[j]) ** 2;
  }
  const std = Array.from(sq, (s) => {
    const v = Math.sqrt(s / n);
    return v > 1e-12 ? v : 1;
  });
  return { mean: Array.from(mean), std };
}

/** The given rows standardized, as arrays (what the mljs libraries take). */
export function standardRows(
  x: Float32Array,
  f: number,
  rows: ArrayLike<number>,
  s: RowStandardizer,
): number[][] {
  return Array.from(rows as ArrayLike<number>, (r) => {
    const out = new Array<number>(f);
    const o = r * f;
    for (let j = 0; j < f; j++) out[j] = (x[o + j] - s.mean[j]) / s.std[j];
    return out;
  });
}
