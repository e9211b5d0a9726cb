import { describe, expect, it } from 'vitest';
import { createRng } from '../src/data/rng.ts';
import {
  applyStandardizer,
  DEFAULT_STD_EPSILON,
  fitStandardizer,
  PixelMoments,
  standardizerFromJSON,
  standardizerFromMoments,
  standardizerToJSON,
} from '../src/data/standardize.ts';
import type { ImageSet } from '../src/data/types.ts';

function randomSet(n: number, h: number, w: number, c: number, seed: number): ImageSet {
  const rng = createRng(seed);
  const size = h * w * c;
  const images = new Uint8Array(n * size);
  for (let i = 0; i < images.length; i++) {
    // Pixel 0 is constant (std 0, must be floored); others vary with different spreads.
    const p = i % size;
    images[i] = p === 0 ? 17 : Math.floor(rng() * (40 + p * 20)) % 256;
  }
  return { images, labels: new Uint8Array(n), count: n, height: h, width: w, channels: c, numClasses: 1 };
}

/** Direct two-pass mean/std in float64 of byte/255. */
function direct(set: ImageSet, idx: number[]) {
  const size = set.height * set.width * set.channels;
  const mean = new Float64Array(size);
  const std = new Float64Array(size);
  for (const i of idx) for (let p = 0; p < size; p++) mean[p] += set.images[i * size + p] / 255 / idx.length;
  for (const i of idx) {
    for (let p = 0; p < size; p++) std[p] += (set.images[i * size + p] / 255 - mean[p]) ** 2 / idx.length;
  }
  return { mean, std: std.map(Math.sqrt) };
}

describe('standardizer', () => {
  const set = randomSet(200, 3, 4, 2, 5);

  it('mean/std equal a direct two-pass computation on the chosen examples, std floored', () => {
    const idx = Array.from({ length: 150 }, (_, k) => k + 50);
    const s = fitStandardizer(set, idx);
    const d = direct(set, idx);
    expect(s.mean.length).toBe(24);
    for (let p = 0; p < 24; p++) {
      expect(s.mean[p]).toBeCloseTo(d.mean[p], 6);
      expect(s.std[p]).toBeCloseTo(Math.max(d.std[p], DEFAULT_STD_EPSILON), 6);
    }
    expect(s.mean[0]).toBeCloseTo(17 / 255, 7);
    expect(s.std[0]).toBe(Math.fround(DEFAULT_STD_EPSILON));
    expect(s.std[5]).toBeGreaterThan(0.1);
  });

  it('merged moments equal moments over the whole set', () => {
    const size = 24;
    const a = new PixelMoments(size);
    const b = new PixelMoments(size);
    for (let i = 0; i < set.count; i++) (i < 77 ? a : b).add(set.images.subarray(i * size, (i + 1) * size));
    a.merge(b);
    const merged = standardizerFromMoments(a, set);
    const whole = fitStandardizer(set);
    expect(Array.from(merged.mean)).toEqual(Array.from(whole.mean));
    expect(Array.from(merged.std)).toEqual(Array.from(whole.std));
  });

  it('standardized training pixels have mean 0 and std 1 where they vary', () => {
    const s = fitStandardizer(set, undefined, { epsilon: 1e-6 });
    const x = Float32Array.from(set.images, (b) => b / 255);
    applyStandardizer(s, x);
    for (let p = 1; p < 24; p++) {
      let m = 0;
      let v = 0;
      for (let i = 0; i < set.count; i++) m += x[i * 24 + p] / set.count;
      for (let i = 0; i < set.count; i++) v += (x[i * 24 + p] - m) ** 2 / set.count;
      expect(m).toBeCloseTo(0, 4);
      expect(Math.sqrt(v)).toBeCloseTo(1, 4);
    }
    expect(x[0]).toBe(0); // constant pixel: (x − mean) = 0
  });

  it('round-trips through JSON exactly and validates it', () => {
    const s = fitStandardizer(set);
    const back = standardizerFromJSON(JSON.parse(JSON.stringify(standardizerToJSON(s))));
    expect(back).toEqual(s);
    expect(() =>
      standardizerFromJSON({ kind: 'per-pixel', height: 2, width: 2, channels: 1, mean: [0], std: [1] }),
    ).toThrow('invalid standardizer JSON');
    expect(() => standardizerFromJSON(null)).toThrow('invalid standardizer JSON');
  });

  it('rejects batches of the wrong size and empty fits', () => {
    const s = fitStandardizer(set);
    expect(() => applyStandardizer(s, new Float32Array(25))).toThrow(
      'standardizer for 3×4×2 images got a batch of 25 values',
    );
    expect(() => fitStandardizer(set, [])).toThrow('cannot fit a standardizer on 0 images');
  });
});
