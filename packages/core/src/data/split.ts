/** Index-level splits and subsets of an ImageSet. */
import { createRng, shuffleInPlace } from './rng.ts';
import type { ImageSet, LabelArray } from './types.ts';

export interface SplitIndices {
  /** Ascending indices into the source set. */
  trainIdx: Uint32Array;
  /** Ascending indices into the source set. */
  valIdx: Uint32Array;
}

/** Turns a validation fraction (0 ≤ f < 1) or count (integer ≥ 1) into a count for n examples. */
export function validationCount(n: number, fractionOrCount: number): number {
  if (!Number.isFinite(fractionOrCount) || fractionOrCount < 0) {
    throw new Error(`validation size must be a fraction in [0, 1) or a count ≥ 1, got ${fractionOrCount}`);
  }
  const count = fractionOrCount < 1 ? Math.round(n * fractionOrCount) : fractionOrCount;
  if (!Number.isInteger(count))
    throw new Error(`validation count must be an integer, got ${fractionOrCount}`);
  if (n > 0 && count >= n) {
    throw new Error(`validation size ${count} leaves no training examples (${n} examples in all)`);
  }
  return count;
}

/**
 * Seeded stratified split: every class gives the validation set its proportional share
 * (largest-remainder rounding, so each class is within ±1 of exact proportion and the total is exact).
 * Which examples of a class go to validation is decided by a seeded shuffle of that class.
 */
export function stratifiedSplit(labels: LabelArray, fractionOrCount: number, seed: number): SplitIndices {
  const n = labels.length;
  const valTotal = validationCount(n, fractionOrCount);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const list = byClass.get(labels[i]);
    if (list) list.push(i);
    else byClass.set(labels[i], [i]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  // Largest remainder: floor every class's exact share, then hand the leftover slots to the largest fractions.
  const exact = classes.map((c) => (byClass.get(c)!.length * valTotal) / Math.max(n, 1));
  const quota = exact.map(Math.floor);
  let left = valTotal - quota.reduce((a, b) => a + b, 0);
  const order = classes.map((_, k) => k).sort((a, b) => exact[b] - quota[b] - (exact[a] - quota[a]) || a - b);
  for (const k of order) {
    if (left <= 0) break;
    quota[k]++;
    left--;
  }
  const rng = createRng(seed);
  const isVal = new Uint8Array(n);
  classes.forEach((c, k) => {
    const members = shuffleInPlace(byClass.get(c)!, rng);
    for (let j = 0; j < quota[k]; j++) isVal[members[j]] = 1;
  });
  const trainIdx = new Uint32Array(n - valTotal);
  const valIdx = new Uint32Array(valTotal);
  let t = 0;
  let v = 0;
  for (let i = 0; i < n; i++) {
    if (isVal[i]) valIdx[v++] = i;
    else trainIdx[t++] = i;
  }
  return { trainIdx, valIdx };
}

/** Bytes per image of a set. */
export function imageSize(set: ImageSet): number {
  return set.height * set.width * set.channels;
}

/**
 * A label array of the same width as `like` (not `like.constructor`: IDX labels may be a Node Buffer,
 * whose constructor is deprecated and whose from() ignores a map function).
 */
export function newLabels(like: LabelArray, n: number): LabelArray {
  return like instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
}

/** A new ImageSet holding copies of the chosen examples, in the order given. */
export function subset(set: ImageSet, idx: ArrayLike<number>): ImageSet {
  const size = imageSize(set);
  const images = new Uint8Array(idx.length * size);
  const labels = newLabels(set.labels, idx.length);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (!Number.isInteger(i) || i < 0 || i >= set.count) {
      throw new Error(`subset: index ${i} out of range for ${set.count} examples`);
    }
    images.set(set.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = set.labels[i];
  }
  return { ...set, images, labels, count: idx.length };
}

/** The first n examples (as views, no copy); n larger than the set keeps it whole. Used by --limit. */
export function takeFirst(set: ImageSet, n: number): ImageSet {
  if (!Number.isInteger(n) || n < 1) throw new Error(`limit must be a positive integer, got ${n}`);
  const count = Math.min(n, set.count);
  const size = imageSize(set);
  return {
    ...set,
    images: set.images.subarray(0, count * size),
    labels: set.labels.subarray(0, count),
    count,
  };
}
