import { describe, expect, it } from 'vitest';
import { batchCount, batchIterator, toFloatBatch } from '../src/data/batches.ts';
import { fitStandardizer } from '../src/data/standardize.ts';
import type { ImageSet } from '../src/data/types.ts';

/** 10 images of 2×2×1; image i is filled with byte 10·i, label i % 3. */
const set: ImageSet = {
  images: Uint8Array.from({ length: 40 }, (_, k) => 10 * Math.floor(k / 4)),
  labels: Uint8Array.from({ length: 10 }, (_, i) => i % 3),
  count: 10,
  height: 2,
  width: 2,
  channels: 1,
  numClasses: 3,
};

const imageIds = (x: Float32Array) =>
  Array.from({ length: x.length / 4 }, (_, k) => Math.round((x[k * 4] * 255) / 10));

describe('batchIterator', () => {
  it('yields scaled batches in order with a short last batch', () => {
    const batches = [...batchIterator(set, undefined, 4)];
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2]);
    expect(batchCount(10, 4)).toBe(3);
    expect(batches[0].x.length).toBe(16);
    expect(batches[0].x[4]).toBeCloseTo(10 / 255, 7);
    expect(batches.flatMap((b) => imageIds(b.x))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batches.flatMap((b) => Array.from(b.y))).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
    expect(Array.from(batches[2].indices)).toEqual([8, 9]);
  });

  it('uses only the given indices and can drop the remainder', () => {
    const batches = [...batchIterator(set, [9, 2, 5], 2, { dropRemainder: true })];
    expect(batches.length).toBe(1);
    expect(imageIds(batches[0].x)).toEqual([9, 2]);
    expect(Array.from(batches[0].y)).toEqual([0, 2]);
  });

  it('shuffles deterministically per (seed, epoch), differently across epochs, covering every example once', () => {
    const order = (seed: number, epoch: number) =>
      [...batchIterator(set, undefined, 3, { shuffle: true, seed, epoch })].flatMap((b) => imageIds(b.x));
    const a = order(1, 0);
    expect([...a].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(order(1, 0)).toEqual(a);
    expect(order(1, 1)).not.toEqual(a);
    expect(order(2, 0)).not.toEqual(a);
    // Labels travel with their images.
    for (const b of batchIterator(set, undefined, 3, { shuffle: true, seed: 1 })) {
      expect(Array.from(b.y)).toEqual(imageIds(b.x).map((i) => i % 3));
    }
  });

  it('standardizes after scaling, matching toFloatBatch', () => {
    const s = fitStandardizer(set);
    const [b] = [...batchIterator(set, [0, 9], 2, { scaling: 'standardize', standardizer: s })];
    const mean = 45 / 255;
    const std = Math.sqrt(825) / 255; // population std of 0,10,...,90
    expect(b.x[0]).toBeCloseTo((0 - mean) / std, 5);
    expect(b.x[4]).toBeCloseTo((90 / 255 - mean) / std, 5);
    expect(Array.from(toFloatBatch(set, [0, 9], { scaling: 'standardize', standardizer: s }))).toEqual(
      Array.from(b.x),
    );
  });

  it('augments with a seeded stream (fill 0 shows up at shifted borders)', () => {
    const opts = { augment: { widthShift: 0.5 }, seed: 5 };
    const a = [...batchIterator(set, [9], 1, opts)][0].x;
    const b = [...batchIterator(set, [9], 1, opts)][0].x;
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(a)).not.toEqual(Array.from(toFloatBatch(set, [9])));
    expect(Math.min(...a)).toBeLessThan(90 / 255);
  });

  it('rejects bad options', () => {
    expect(() => [...batchIterator(set, undefined, 0)]).toThrow(
      'batch size must be a positive integer, got 0',
    );
    expect(() => [...batchIterator(set, undefined, 2, { scaling: 'standardize' })]).toThrow(
      "scaling 'standardize' needs a fitted standardizer",
    );
    const wrong = fitStandardizer({ ...set, width: 1, height: 4 });
    expect(() => [
      ...batchIterator(set, undefined, 2, { scaling: 'standardize', standardizer: wrong }),
    ]).toThrow('standardizer is for 4×1×1 images, data is 2×2×1');
  });
});
