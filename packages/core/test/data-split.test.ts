import { describe, expect, it } from 'vitest';
import { createRng, mixSeed, permutation, shuffleInPlace } from '../src/data/rng.ts';
import { stratifiedSplit, subset, takeFirst, validationCount } from '../src/data/split.ts';
import type { ImageSet } from '../src/data/types.ts';

/** Labels with deliberately unequal class sizes. */
function unevenLabels(): Uint8Array {
  const sizes = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]; // MNIST test-set class sizes
  const out: number[] = [];
  sizes.forEach((s, c) => {
    for (let i = 0; i < s; i++) out.push(c);
  });
  shuffleInPlace(out, createRng(99));
  return Uint8Array.from(out);
}

function counts(labels: Uint8Array, idx: Uint32Array, k = 10): number[] {
  const c = new Array(k).fill(0);
  for (const i of idx) c[labels[i]]++;
  return c;
}

describe('rng', () => {
  it('is deterministic per seed, differs across seeds and stays in [0,1)', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
  });

  it('permutation is a permutation and shuffles', () => {
    const p = permutation(100, createRng(1));
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(permutation(100, createRng(1)))).toEqual(Array.from(p));
  });
});

describe('stratifiedSplit', () => {
  const labels = unevenLabels();
  const n = labels.length;
  const total = counts(
    labels,
    Uint32Array.from({ length: n }, (_, i) => i),
  );

  it('gives each class its proportional share within ±1 and the exact total', () => {
    const { trainIdx, valIdx } = stratifiedSplit(labels, 0.2, 42);
    expect(valIdx.length).toBe(2000);
    expect(trainIdx.length).toBe(8000);
    const val = counts(labels, valIdx);
    for (let c = 0; c < 10; c++) expect(Math.abs(val[c] - total[c] * 0.2)).toBeLessThan(1);
    const train = counts(labels, trainIdx);
    for (let c = 0; c < 10; c++) expect(train[c] + val[c]).toBe(total[c]);
  });

  it('is a partition into ascending index lists', () => {
    const { trainIdx, valIdx } = stratifiedSplit(labels, 1234, 3);
    expect(valIdx.length).toBe(1234);
    const all = new Set([...trainIdx, ...valIdx]);
    expect(all.size).toBe(n);
    for (let i = 1; i < valIdx.length; i++) expect(valIdx[i]).toBeGreaterThan(valIdx[i - 1]);
    for (let i = 1; i < trainIdx.length; i++) expect(trainIdx[i]).toBeGreaterThan(trainIdx[i - 1]);
  });

  it('is deterministic per seed and different across seeds', () => {
    const a = stratifiedSplit(labels, 0.2, 42);
    const b = stratifiedSplit(labels, 0.2, 42);
    const c = stratifiedSplit(labels, 0.2, 43);
    expect(Array.from(b.valIdx)).toEqual(Array.from(a.valIdx));
    expect(Array.from(c.valIdx)).not.toEqual(Array.from(a.valIdx));
    expect(counts(labels, c.valIdx)).toEqual(counts(labels, a.valIdx));
  });

  it('accepts 0 and rejects sizes that leave no training data', () => {
    expect(stratifiedSplit(labels, 0, 1).valIdx.length).toBe(0);
    expect(() => validationCount(10, 10)).toThrow(
      'validation size 10 leaves no training examples (10 examples in all)',
    );
    expect(() => validationCount(10, -0.1)).toThrow(/fraction in \[0, 1\) or a count/);
    expect(() => validationCount(10, 2.5)).toThrow('validation count must be an integer, got 2.5');
    expect(validationCount(10, 0.25)).toBe(3);
  });
});

describe('subset and takeFirst', () => {
  const set: ImageSet = {
    images: Uint8Array.from({ length: 5 * 2 * 2 }, (_, i) => i),
    labels: Uint8Array.of(0, 1, 2, 0, 1),
    count: 5,
    height: 2,
    width: 2,
    channels: 1,
    numClasses: 3,
    classNames: ['a', 'b', 'c'],
  };

  it('subset copies the chosen examples in order', () => {
    const s = subset(set, [3, 1]);
    expect(s.count).toBe(2);
    expect(Array.from(s.images)).toEqual([12, 13, 14, 15, 4, 5, 6, 7]);
    expect(Array.from(s.labels)).toEqual([0, 1]);
    expect(s.classNames).toEqual(['a', 'b', 'c']);
    s.images[0] = 255;
    expect(set.images[12]).toBe(12);
    expect(() => subset(set, [5])).toThrow('subset: index 5 out of range for 5 examples');
  });

  it('takeFirst keeps the first n and clamps to the set size', () => {
    const t = takeFirst(set, 2);
    expect(t.count).toBe(2);
    expect(Array.from(t.images)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(t.labels)).toEqual([0, 1]);
    expect(takeFirst(set, 100).count).toBe(5);
    expect(() => takeFirst(set, 0)).toThrow('limit must be a positive integer, got 0');
    expect(() => takeFirst(set, 1.5)).toThrow('limit must be a positive integer, got 1.5');
  });
});
