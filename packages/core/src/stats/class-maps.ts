/** Per-class mean feature maps (class × H × W × filters) of a spatial layer, as float64 sums and counts. */
import { decodeF64, encodeF64 } from './codec.ts';

export interface ClassMaps {
  numClasses: number;
  height: number;
  width: number;
  filters: number;
  counts: number[];
  /** classes × (H·W·filters) sums, NHWC order within a class. */
  sums: Float64Array;
}

export interface ClassMapsJSON extends Omit<ClassMaps, 'sums'> {
  sums: string;
}

export function createClassMaps(
  numClasses: number,
  height: number,
  width: number,
  filters: number,
): ClassMaps {
  return {
    numClasses,
    height,
    width,
    filters,
    counts: new Array(numClasses).fill(0),
    sums: new Float64Array(numClasses * height * width * filters),
  };
}

const cell = (s: ClassMaps) => s.height * s.width * s.filters;

/**
 * Adds a batch already summed per class on the engine: classes × H·W·filters sums, or, when
 * `onlyClass` is given, the one class's H·W·filters sums; with the batch's image count per class.
 */
export function addClassMapSums(
  s: ClassMaps,
  batchSums: ArrayLike<number>,
  batchCounts: ArrayLike<number>,
  onlyClass?: number,
): void {
  const m = cell(s);
  const base = onlyClass === undefined ? 0 : onlyClass * m;
  const len = onlyClass === undefined ? s.sums.length : m;
  if (batchSums.length !== len)
    throw new Error(`class map sums: expected ${len} values, got ${batchSums.length}`);
  for (let i = 0; i < len; i++) s.sums[base + i] += batchSums[i];
  for (let c = 0; c < s.numClasses; c++) s.counts[c] += batchCounts[c];
}

/** Adds n images of raw activations (n × H·W·filters). */
export function addClassMaps(
  s: ClassMaps,
  act: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
): void {
  const m = cell(s);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    s.counts[c]++;
    for (let p = 0; p < m; p++) s.sums[c * m + p] += act[i * m + p];
  }
}

export function mergeClassMaps(a: ClassMaps, b: ClassMaps): ClassMaps {
  if (a.numClasses !== b.numClasses || a.sums.length !== b.sums.length)
    throw new Error('class maps differ in shape');
  const sums = new Float64Array(a.sums);
  for (let i = 0; i < sums.length; i++) sums[i] += b.sums[i];
  return { ...a, counts: a.counts.map((c, i) => c + b.counts[i]), sums };
}

/** The mean H×W map of one filter for one class (NaN when the class has no images). */
export function classMeanMap(s: ClassMaps, cls: number, filter: number): Float64Array {
  const hw = s.height * s.width;
  const out = new Float64Array(hw);
  const base = cls * cell(s);
  for (let p = 0; p < hw; p++) out[p] = s.sums[base + p * s.filters + filter] / s.counts[cls];
  return out;
}

export const classMapsToJSON = (s: ClassMaps): ClassMapsJSON => ({
  ...s,
  counts: s.counts,
  sums: encodeF64(s.sums),
});

export function classMapsFromJSON(j: ClassMapsJSON): ClassMaps {
  return {
    numClasses: j.numClasses,
    height: j.height,
    width: j.width,
    filters: j.filters,
    counts: [...j.counts],
    sums: decodeF64(j.sums, j.numClasses * j.height * j.width * j.filters, 'class maps'),
  };
}
