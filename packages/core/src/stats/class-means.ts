/**
 * Per-class mean output of every filter (conv: mean over positions; dense: the unit's value) as
 * float64 sums and counts, so any split of a dataset adds up to the same matrix.
 */
import { decodeF64, encodeF64 } from './codec.ts';

export interface ClassMeans {
  numClasses: number;
  filters: number;
  /** Images per class. */
  counts: number[];
  /** classes × filters sums of the per-image filter means. */
  sums: Float64Array;
}

export interface ClassMeansJSON {
  numClasses: number;
  filters: number;
  counts: number[];
  sums: string;
}

export function createClassMeans(numClasses: number, filters: number): ClassMeans {
  return {
    numClasses,
    filters,
    counts: new Array(numClasses).fill(0),
    sums: new Float64Array(numClasses * filters),
  };
}

/** Adds n images: `perImage` is n × filters (each image's filter means), `labels` their classes. */
export function addClassMeans(
  s: ClassMeans,
  perImage: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
): void {
  const F = s.filters;
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    if (c >= s.numClasses) throw new Error(`label ${c} out of range for ${s.numClasses} classes`);
    s.counts[c]++;
    const row = c * F;
    const src = i * F;
    for (let f = 0; f < F; f++) s.sums[row + f] += perImage[src + f];
  }
}

export function mergeClassMeans(a: ClassMeans, b: ClassMeans): ClassMeans {
  if (a.numClasses !== b.numClasses || a.filters !== b.filters) {
    throw new Error(
      `class means differ in shape (${a.numClasses}×${a.filters} vs ${b.numClasses}×${b.filters})`,
    );
  }
  const sums = new Float64Array(a.sums);
  for (let i = 0; i < sums.length; i++) sums[i] += b.sums[i];
  return {
    numClasses: a.numClasses,
    filters: a.filters,
    counts: a.counts.map((c, i) => c + b.counts[i]),
    sums,
  };
}

/** classes × filters means; NaN for a class with no images. */
export function classMeanMatrix(s: ClassMeans): Float64Array {
  const out = new Float64Array(s.sums.length);
  for (let c = 0; c < s.numClasses; c++)
    for (let f = 0; f < s.filters; f++) out[c * s.filters + f] = s.sums[c * s.filters + f] / s.counts[c];
  return out;
}

export const classMeansToJSON = (s: ClassMeans): ClassMeansJSON => ({
  numClasses: s.numClasses,
  filters: s.filters,
  counts: s.counts,
  sums: encodeF64(s.sums),
});

export function classMeansFromJSON(j: ClassMeansJSON): ClassMeans {
  return {
    numClasses: j.numClasses,
    filters: j.filters,
    counts: [...j.counts],
    sums: decodeF64(j.sums, j.numClasses * j.filters, 'class means'),
  };
}
