import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { areaOver, noisyLinearImpute, road } from '../src/methods/faithfulness/road.ts';
import { quadrants } from './helpers/quadrants.ts';

/** Mask of the pixels in rows y0..y1-1 and columns x0..x1-1. */
function block(h: number, w: number, y0: number, y1: number, x0: number, x1: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return m;
}

/**
 * Reads only the top-left 8×8 quadrant of a 16×16 image: class 0's logit is 20·(mean − 0.5) there,
 * class 1's is 0, softmax. Bright quadrant (≈0.8) → p0 ≈ 1; dark (≈0.2) → p0 ≈ 0.
 */
function topLeftModel(): tf.LayersModel {
  const w = new Float32Array(256 * 2);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) w[(y * 16 + x) * 2] = 20 / 64;
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [16, 16, 1] }));
  m.add(
    tf.layers.dense({
      units: 2,
      activation: 'softmax',
      weights: [tf.tensor2d(w, [256, 2]), tf.tensor1d([-10, 0])],
    }),
  );
  return m;
}

describe('ROAD: noisy linear imputation', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('reproduces a linear ramp inside a removed interior block (noise 0)', () => {
    const h = 12;
    const w = 10;
    const img = new Float32Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img[y * w + x] = 0.3 * x - 0.2 * y + 1;
    const mask = block(h, w, 3, 9, 2, 8);
    const out = noisyLinearImpute(img, h, w, 1, mask, { noise: 0 });
    // The stencil is symmetric, so a linear function equals its neighbours' weighted mean.
    for (let i = 0; i < img.length; i++) expect(out[i]).toBeCloseTo(img[i], 4);
  });

  it('is exact for constant images and stays within the kept range (maximum principle)', () => {
    const h = 9;
    const w = 9;
    const c = 3;
    const flat = new Float32Array(h * w * c).fill(0.7);
    const mask = block(h, w, 0, 5, 0, 9); // touches the border
    const out = noisyLinearImpute(flat, h, w, c, mask, { noise: 0 });
    for (const v of out) expect(v).toBeCloseTo(0.7, 5);

    let s = 3;
    const rand = Float32Array.from({ length: h * w * c }, () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s / 2 ** 32;
    });
    const holes = Uint8Array.from({ length: h * w }, (_, i) => ((i * 7) % 3 === 0 || i < 20 ? 1 : 0));
    const filled = noisyLinearImpute(rand, h, w, c, holes, { noise: 0 });
    for (let ch = 0; ch < c; ch++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let p = 0; p < h * w; p++)
        if (!holes[p]) {
          lo = Math.min(lo, rand[p * c + ch]);
          hi = Math.max(hi, rand[p * c + ch]);
        }
      for (let p = 0; p < h * w; p++) {
        const v = filled[p * c + ch];
        if (holes[p]) {
          expect(v).toBeGreaterThanOrEqual(lo - 1e-5);
          expect(v).toBeLessThanOrEqual(hi + 1e-5);
        } else expect(v).toBe(rand[p * c + ch]);
      }
    }
  });

  it('adds seeded noise to removed pixels only, and fills an all-removed image with 0', () => {
    const img = new Float32Array(25).fill(0.5);
    const mask = block(5, 5, 1, 4, 1, 4);
    const a = noisyLinearImpute(img, 5, 5, 1, mask, { noise: 0.1 });
    let moved = 0;
    for (let i = 0; i < 25; i++) {
      if (mask[i]) moved += Math.abs(a[i] - 0.5) > 0 ? 1 : 0;
      else expect(a[i]).toBe(0.5);
    }
    expect(moved).toBe(9);
    const all = noisyLinearImpute(img, 5, 5, 1, new Uint8Array(25).fill(1), { noise: 0 });
    expect(Array.from(all)).toEqual(new Array(25).fill(0));
    expect(() => noisyLinearImpute(img, 5, 5, 1, new Uint8Array(3))).toThrow(/3 entries/);
  });

  it('trapezoid area over uneven fractions', () => {
    expect(areaOver([0.1, 0.5, 0.9], [1, 1, 1])).toBeCloseTo(1, 6);
    expect(areaOver([0, 0.5, 1], [0, 1, 1])).toBeCloseTo(0.75, 6);
  });
});

describe('ROAD curves', () => {
  it('MoRF with a map on the pixels the model reads falls faster than LeRF; no tensor leak', async () => {
    const model = topLeftModel();
    // Images whose bright quadrant is the top-left one (class 0 of the quadrants set).
    const set = quadrants(64, 5, 16, 1);
    const picks = Array.from(set.y.keys())
      .filter((i) => set.y[i] === 0)
      .slice(0, 6);
    const x = tf.tensor4d(
      Float32Array.from(picks.flatMap((i) => Array.from(set.x.subarray(i * 256, (i + 1) * 256)))),
      [picks.length, 16, 16, 1],
    );
    // The map: the top-left quadrant, brightest (most relevant) towards its centre.
    const map = new Float32Array(256);
    for (let y = 0; y < 8; y++)
      for (let xx = 0; xx < 8; xx++) map[y * 16 + xx] = 1 + 1 / (1 + Math.abs(y - 3.5) + Math.abs(xx - 3.5));
    const maps = picks.map(() => map);
    const targets = picks.map(() => 0);
    const r = await road(model, x, targets, maps, { batch: 7 });
    expect(r.fractions).toHaveLength(9);
    expect(r.morf).toHaveLength(picks.length);
    expect(r.meanLerf[0]).toBeGreaterThan(0.9);
    // Once the quadrant is gone (p ≥ 0.3 > 64/256) the imputed dark fill kills class 0.
    for (let j = 2; j < 9; j++) expect(r.meanMorf[j]).toBeLessThan(0.1);
    // LeRF keeps the quadrant until 75 % of the pixels are removed.
    for (let j = 0; j < 7; j++) expect(r.meanLerf[j]).toBeGreaterThan(0.9);
    expect(r.morfAuc).toBeLessThan(r.lerfAuc - 0.4);

    await road(model, x, targets, maps, { fractions: [0.5] });
    const before = tf.memory().numTensors;
    await road(model, x, targets, maps, { fractions: [0.2, 0.6], batch: 3 });
    expect(tf.memory().numTensors).toBe(before);
    await expect(road(model, x, targets, maps, { fractions: [0.5, 0.2] })).rejects.toThrow(/increase/);
    await expect(road(model, x, [0], maps)).rejects.toThrow(/targets/);
    x.dispose();
    model.dispose();
  });
});
