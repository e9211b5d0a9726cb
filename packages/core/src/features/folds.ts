/** Seeded stratified k-fold assignment: each class's rows are shuffled and dealt round-robin to the folds. */
import { createRng, shuffleInPlace } from '../data/rng.ts';

/** Fold (0…k−1) of each of `labels`' rows; every class spreads over the folds within ±1. */
export function stratifiedFolds(labels: ArrayLike<number>, k: number, seed: number): Int32Array {
  if (!Number.isInteger(k) || k < 2) throw new Error(`cross-validation needs at least 2 folds, got ${k}`);
  if (labels.length < k) throw new Error(`${labels.length} examples are too few for ${k} folds`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byClass.get(labels[i]);
    if (list) list.push(i);
    else byClass.set(labels[i], [i]);
  }
  const rng = createRng(seed);
  const fold = new Int32Array(labels.length);
  let next = 0; // continue dealing where the last class stopped, so folds stay equal in size
  for (const c of [...byClass.keys()].sort((a, b) => a - b))
    for (const i of shuffleInPlace(byClass.get(c)!, rng)) fold[i] = next++ % k;
  return fold;
}
