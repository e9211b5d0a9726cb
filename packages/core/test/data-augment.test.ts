import { describe, expect, it } from 'vitest';
import {
  augmentBatch,
  createAugmenter,
  IDENTITY,
  sampleTransform,
  transformImage,
  validateAugmentParams,
} from '../src/data/augment.ts';
import { createRng } from '../src/data/rng.ts';

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => (i + 1) / n);

/** numpy.rot90(img, 1): counter-clockwise as displayed, row 0 at the top. */
function rot90(src: Float32Array, n: number, c: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      for (let k = 0; k < c; k++) out[(y * n + x) * c + k] = src[(x * n + (n - 1 - y)) * c + k];
    }
  }
  return out;
}

function apply(src: Float32Array, h: number, w: number, c: number, t: Partial<typeof IDENTITY>) {
  const out = new Float32Array(src.length);
  transformImage(src, out, h, w, c, { ...IDENTITY, ...t });
  return out;
}

describe('augmentation', () => {
  it('identity params return the input unchanged', () => {
    const x = ramp(2 * 5 * 5 * 3);
    const same = createAugmenter({}, 1)(x, 5, 5, 3);
    expect(same).toBe(x);
    const zeroed = createAugmenter(
      { rotation: 0, widthShift: 0, heightShift: 0, zoom: 0, horizontalFlip: false },
      1,
    );
    expect(zeroed(x, 5, 5, 3)).toBe(x);
    expect(Array.from(apply(x.subarray(0, 75), 5, 5, 3, {}))).toEqual(Array.from(x.subarray(0, 75)));
  });

  it('a 90° rotation equals an exact rotation of a square image (odd and even sizes)', () => {
    for (const n of [5, 6]) {
      const src = ramp(n * n * 2);
      expect(Array.from(apply(src, n, n, 2, { rotation: 90 }))).toEqual(Array.from(rot90(src, n, 2)));
      expect(Array.from(apply(src, n, n, 2, { rotation: -90 }))).toEqual(
        Array.from(rot90(rot90(rot90(src, n, 2), n, 2), n, 2)),
      );
    }
  });

  it('composes in the documented order: rotate, then shift, then flip', () => {
    const n = 5;
    const src = ramp(n * n);
    const rotated = rot90(src, n, 1);
    const shifted = apply(rotated, n, n, 1, { dx: 2, dy: -1 });
    expect(Array.from(apply(src, n, n, 1, { rotation: 90, dx: 2, dy: -1 }))).toEqual(Array.from(shifted));
    const flipped = apply(shifted, n, n, 1, { flip: true });
    expect(Array.from(apply(src, n, n, 1, { rotation: 90, dx: 2, dy: -1, flip: true }))).toEqual(
      Array.from(flipped),
    );
  });

  it('flips, shifts with fill 0, and interpolates bilinearly', () => {
    const src = Float32Array.of(1, 2, 3, 4, 5, 6); // 2 rows × 3 cols
    expect(Array.from(apply(src, 2, 3, 1, { flip: true }))).toEqual([3, 2, 1, 6, 5, 4]);
    expect(Array.from(apply(src, 2, 3, 1, { dx: 1 }))).toEqual([0, 1, 2, 0, 4, 5]);
    expect(Array.from(apply(src, 2, 3, 1, { dy: -1 }))).toEqual([4, 5, 6, 0, 0, 0]);
    const half = apply(src, 2, 3, 1, { dx: 0.5 });
    expect(Array.from(half)).toEqual([0.5, 1.5, 2.5, 2, 4.5, 5.5]);
  });

  it('zoom follows Keras: factor < 1 magnifies about the centre', () => {
    const src = new Float32Array(25);
    src[12] = 1; // centre pixel of 5×5
    src[13] = 1; // its right neighbour
    const out = apply(src, 5, 5, 1, { zoomX: 0.5, zoomY: 1 });
    // Output x maps to source 2 + (x − 2)/2: x=3 → 2.5, x=4 → 3, x=1 → 1.5.
    expect(Array.from(out.subarray(10, 15))).toEqual([0, 0.5, 1, 1, 1]);
  });

  it('random batches are seeded, transform each image differently, keep shape and range', () => {
    const x = new Float32Array(4 * 8 * 8);
    for (let i = 0; i < 4; i++) x.fill(1, i * 64 + 8 * 3, i * 64 + 8 * 5); // same horizontal bar in each image
    const params = { rotation: 30, widthShift: 0.1, heightShift: 0.1, zoom: 0.1, horizontalFlip: true };
    const a = augmentBatch(x, 8, 8, 1, params, createRng(3));
    const b = augmentBatch(x, 8, 8, 1, params, createRng(3));
    const c = augmentBatch(x, 8, 8, 1, params, createRng(4));
    expect(a).not.toBe(x);
    expect(a.length).toBe(x.length);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(a));
    expect(Array.from(a.subarray(0, 64))).not.toEqual(Array.from(a.subarray(64, 128)));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(1 + 1e-6);
    expect(Array.from(x.subarray(0, 64 * 1)).filter((v) => v === 1).length).toBe(16); // input untouched
  });

  it('samples transforms within the requested ranges', () => {
    const rng = createRng(9);
    for (let i = 0; i < 200; i++) {
      const t = sampleTransform(
        { rotation: 10, widthShift: 0.25, heightShift: 0.5, zoom: [0.8, 1.2] },
        rng,
        20,
        8,
      );
      expect(Math.abs(t.rotation)).toBeLessThanOrEqual(10);
      expect(Math.abs(t.dx)).toBeLessThanOrEqual(2);
      expect(Math.abs(t.dy)).toBeLessThanOrEqual(10);
      expect(t.zoomX).toBeGreaterThanOrEqual(0.8);
      expect(t.zoomY).toBeLessThanOrEqual(1.2);
      expect(t.flip).toBe(false);
    }
  });

  it('rejects bad parameters', () => {
    expect(() => validateAugmentParams({ rotation: -5 })).toThrow(
      'augmentation rotation must be a number in [0, 180], got -5',
    );
    expect(() => validateAugmentParams({ widthShift: 2 })).toThrow(/widthShift/);
    expect(() => validateAugmentParams({ zoom: 1.5 })).toThrow(/zoom/);
    expect(() => validateAugmentParams({ zoom: [1.2, 0.8] })).toThrow(/zoom/);
  });
});
