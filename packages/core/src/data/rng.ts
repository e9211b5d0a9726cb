/**
 * Seeded randomness. Everything random in data handling (splits, shuffles, augmentation) takes a seed,
 * so a run can be replayed and a resumed run sees the same order.
 */

/** A generator of uniform floats in [0, 1). */
export type Rng = () => number;

/** Mixes several integers into one 32-bit seed (so e.g. (seed, epoch) pairs give unrelated streams). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    // Fold in both 32-bit halves so large or fractional seeds still matter.
    const lo = Math.trunc(p) >>> 0;
    const hi = Math.trunc(p / 2 ** 32) >>> 0;
    for (const v of [lo, hi]) {
      h = Math.imul(h ^ v, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

/** mulberry32: tiny, fast, full 2^32 period; plenty for shuffling and augmentation. */
export function createRng(seed: number): Rng {
  let a = mixSeed(seed);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform integer in [0, n). */
export function randInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** Uniform float in [lo, hi). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}

/** Fisher–Yates shuffle of an array or typed array, in place; returns its argument. */
export function shuffleInPlace<A extends { length: number; [i: number]: any }>(arr: A, rng: Rng): A {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = randInt(rng, i + 1);
    const t = arr[i];
    arr[i] = arr[j];
    arr[j] = t;
  }
  return arr;
}

/** A random permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, rng);
}
