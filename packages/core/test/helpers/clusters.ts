/** Seeded labelled clusters for the embedding tests. */
import { createRng } from '../../src/data/rng.ts';

/**
 * `perClass` noisy points around each of `classes` centres in `f` dimensions: dimension j of class c's
 * centre is `height` when j ≡ c (mod classes), else 0; uniform noise of width `spread`.
 */
export function clusters(classes: number, perClass: number, f: number, spread: number, seed = 3, height = 5) {
  const rng = createRng(seed);
  const n = classes * perClass;
  const x = new Float32Array(n * f);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let j = 0; j < f; j++) x[i * f + j] = (j % classes === c ? height : 0) + spread * (rng() - 0.5);
  }
  return { x, n, f, labels };
}
