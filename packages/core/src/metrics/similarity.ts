/**
 * Structural similarity of two maps (Wang et al., 2004), as Quantus' randomisation metrics compare maps:
 * skimage's defaults (7×7 uniform windows, sample covariances, K1 0.01, K2 0.03, data range the larger
 * of the two maps' ranges), averaged over the windows that fit. 1 for identical maps.
 */
export function ssim(a: Float32Array, b: Float32Array, height: number, width: number, win = 7): number {
  const w = Math.min(win, height, width);
  let lo = Number.POSITIVE_INFINITY;
  let hiA = Number.NEGATIVE_INFINITY;
  let loA = Number.POSITIVE_INFINITY;
  let hiB = Number.NEGATIVE_INFINITY;
  for (let p = 0; p < a.length; p++) {
    loA = Math.min(loA, a[p]);
    hiA = Math.max(hiA, a[p]);
    lo = Math.min(lo, b[p]);
    hiB = Math.max(hiB, b[p]);
  }
  const range = Math.max(hiA - loA, hiB - lo);
  if (!Number.isFinite(range)) return Number.NaN;
  const c1 = (0.01 * range) ** 2;
  const c2 = (0.03 * range) ** 2;
  const n = w * w;
  const cov = n / (n - 1 || 1);
  let total = 0;
  let count = 0;
  for (let y = 0; y + w <= height; y++)
    for (let x = 0; x + w <= width; x++) {
      let ma = 0;
      let mb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      for (let dy = 0; dy < w; dy++)
        for (let dx = 0; dx < w; dx++) {
          const p = (y + dy) * width + x + dx;
          ma += a[p];
          mb += b[p];
          saa += a[p] * a[p];
          sbb += b[p] * b[p];
          sab += a[p] * b[p];
        }
      ma /= n;
      mb /= n;
      const va = cov * (saa / n - ma * ma);
      const vb = cov * (sbb / n - mb * mb);
      const vab = cov * (sab / n - ma * mb);
      const s = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      total += s;
      count++;
    }
  return count ? total / count : Number.NaN;
}

/** A map divided by its largest |value| (Quantus' default normalisation); zeros stay zeros, NaN → 0. */
export function maxAbsNormalised(m: Float32Array): Float32Array {
  let max = 0;
  for (const v of m) if (!Number.isNaN(v)) max = Math.max(max, Math.abs(v));
  return Float32Array.from(m, (v) => (Number.isNaN(v) || max === 0 ? 0 : v / max));
}
