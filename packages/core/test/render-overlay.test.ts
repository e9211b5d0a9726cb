import { describe, expect, it } from 'vitest';
import { lut } from '../src/render/colormap.ts';
import { createImage } from '../src/render/image.ts';
import { drawExplanation, drawOverlay, overlayRange, resizeMap } from '../src/render/overlay.ts';

const px = (img: { width: number; data: Uint8ClampedArray }, x: number, y: number) =>
  Array.from(img.data.slice((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const colour = (name: 'inferno' | 'rdbu', k: number) => Array.from(lut(name).slice(k * 3, k * 3 + 3));

describe('resizeMap: bilinear with half-pixel centres', () => {
  it('puts a 4×4 map cell at its stride of a 16×16 image; the maximum lands inside that cell', () => {
    const m = new Float32Array(16);
    m[1 * 4 + 2] = 1; // row 1, column 2 → output pixels x 8..11, y 4..7
    const r = resizeMap(m, 4, 4, 16, 16);
    let best = 0;
    for (let i = 1; i < r.length; i++) if (r[i] > r[best]) best = i;
    const [bx, by] = [best % 16, Math.floor(best / 16)];
    expect(bx).toBeGreaterThanOrEqual(8);
    expect(bx).toBeLessThanOrEqual(11);
    expect(by).toBeGreaterThanOrEqual(4);
    expect(by).toBeLessThanOrEqual(7);
    // Output pixel (9.5, 5.5) is the cell's centre: the four pixels around it take 0.875² of the peak.
    for (const [x, y] of [
      [9, 5],
      [10, 5],
      [9, 6],
      [10, 6],
    ])
      expect(r[y * 16 + x]).toBeCloseTo(0.875 * 0.875, 6);
    // Pixel 12 of the row: source coordinate (12.5)/4 − 0.5 = 2.625 → 0.375 of cell 2.
    expect(r[5 * 16 + 12]).toBeCloseTo(0.375 * 0.875, 6);
    expect(r[0]).toBe(0);
  });

  it('clamps at the edges and copies a same-size map', () => {
    const r = resizeMap([1, 3], 2, 1, 4, 1);
    // x = 0: −0.25 clamps to cell 0; x = 1: 0.25 → 1·0.75 + 3·0.25; x = 3 clamps to cell 1.
    expect(Array.from(r)).toEqual([1, 1.5, 2.5, 3]);
    expect(Array.from(resizeMap([5, 6], 2, 1, 2, 1))).toEqual([5, 6]);
    expect(() => resizeMap([1, 2, 3], 2, 1, 4, 1)).toThrow(/3 values, expected 2×1/);
  });
});

describe('drawOverlay', () => {
  it('unsigned: [0, max] in inferno blended at 0.6 (0 → bottom colour even when it is not the min)', () => {
    const base = createImage(3, 1);
    base.data.set([100, 100, 100, 255, 200, 200, 200, 255, 0, 50, 250, 255]);
    const img = drawOverlay(base, [0, 2, 4], 3, 1);
    const mix = (b: number[], c: number[]) => b.map((v, k) => Math.round(0.4 * v + 0.6 * c[k]));
    expect(px(img, 0, 0)).toEqual([...mix([100, 100, 100], colour('inferno', 0)), 255]);
    expect(px(img, 1, 0)).toEqual([...mix([200, 200, 200], colour('inferno', 128)), 255]);
    expect(px(img, 2, 0)).toEqual([...mix([0, 50, 250], colour('inferno', 255)), 255]);
    // A map without zeros keeps its proportions: 2 of max 4 is mid-scale, not the bottom.
    const flat = drawOverlay(base, [2, 3, 4], 3, 1, { alpha: 1 });
    expect(px(flat, 0, 0).slice(0, 3)).toEqual(colour('inferno', 128));
    expect(overlayRange([2, 3, 4], false)).toEqual({ min: 0, max: 4 });
  });

  it('ends the scale at the 99th percentile: a few outlier pixels saturate instead of blanking the rest', () => {
    // 1,000 values 0..999 and 5 outliers at 1e6 (a saliency map's few hot pixels).
    const values = [...Array.from({ length: 1000 }, (_, i) => i), 1e6, 1e6, 1e6, 1e6, 1e6];
    const r = overlayRange(values, false);
    // Sorted, index floor(0.99 · 1005) = 994 holds 994: the outliers do not set the scale.
    expect(r).toEqual({ min: 0, max: 994 });
    expect(
      overlayRange(
        values.map((v, i) => (i % 2 ? -v : v)),
        true,
      ),
    ).toEqual({ min: -994, max: 994 });
    // With the true maximum, value 500 would be drawn at the colormap's bottom; here it is mid-scale.
    const img = drawOverlay(createImage(1005, 1), values, 1005, 1, { alpha: 1 });
    expect(px(img, 500, 0).slice(0, 3)).toEqual(colour('inferno', Math.round((500 / 994) * 255)));
    expect(px(img, 1002, 0).slice(0, 3)).toEqual(colour('inferno', 255));
  });

  it('signed: rdbu around 0 (−m blue end, 0 white-ish middle, +m red end), alpha as given', () => {
    const base = createImage(3, 1, [0, 0, 0, 255]);
    const img = drawOverlay(base, [-1, 0, 0.5], 3, 1, { signed: true, alpha: 1 });
    expect(px(img, 0, 0).slice(0, 3)).toEqual(colour('rdbu', 0));
    expect(px(img, 1, 0).slice(0, 3)).toEqual(colour('rdbu', 128));
    expect(px(img, 2, 0).slice(0, 3)).toEqual(colour('rdbu', Math.round(0.75 * 255)));
    const [r, , b] = px(img, 0, 0);
    expect(b).toBeGreaterThan(r + 50);
    expect(Math.min(...px(img, 1, 0).slice(0, 3))).toBeGreaterThan(200);
    expect(overlayRange([-1, 0, 0.5], true)).toEqual({ min: -1, max: 1 });
    // Default signed alpha 0.75 over a black base.
    const dflt = drawOverlay(base, [-1, 0, 0.5], 3, 1, { signed: true });
    expect(px(dflt, 0, 0).slice(0, 3)).toEqual(colour('rdbu', 0).map((v) => Math.round(0.75 * v)));
  });

  it('upsamples a small map to the image and enlarges by scale; the hottest pixel is the map peak', () => {
    const base = createImage(8, 8, [128, 128, 128, 255]);
    const m = new Float32Array(4);
    m[3] = 1; // bottom-right cell of a 2×2 map
    const img = drawOverlay(base, m, 2, 2, { alpha: 1, scale: 2 });
    expect([img.width, img.height]).toEqual([16, 16]);
    // The bottom-right quarter's inner corner region is at full value: inferno's top (yellow).
    expect(px(img, 15, 15).slice(0, 3)).toEqual(colour('inferno', 255));
    expect(px(img, 0, 0).slice(0, 3)).toEqual(colour('inferno', 0));
    // Scale 2 is nearest-neighbour: pixels (14,14) and (15,15) come from the same source pixel.
    expect(px(img, 14, 14)).toEqual(px(img, 15, 15));
  });

  it('draws non-finite values magenta and an all-zero map at the bottom colour', () => {
    const base = createImage(2, 1, [0, 0, 0, 255]);
    const img = drawOverlay(base, [Number.NaN, 1], 2, 1, { alpha: 1 });
    expect(px(img, 0, 0)).toEqual([255, 0, 255, 255]);
    const zero = drawOverlay(base, [0, 0], 2, 1, { alpha: 1 });
    expect(px(zero, 1, 0).slice(0, 3)).toEqual(colour('inferno', 0));
    expect(() => drawOverlay(base, [0, 0], 2, 1, { alpha: 2 })).toThrow(/alpha/);
  });

  it('drawExplanation draws map i of an explanation with its signedness', () => {
    const base = createImage(2, 1, [0, 0, 0, 255]);
    const e = { maps: [Float32Array.from([0, 1]), Float32Array.from([-2, 2])], width: 2, height: 1 };
    const u = drawExplanation({ ...e, signed: false }, 0, base, 3);
    expect([u.width, u.height]).toEqual([6, 3]);
    expect(px(u, 5, 2).slice(0, 3)).toEqual(colour('inferno', 255).map((v) => Math.round(0.6 * v)));
    const s = drawExplanation({ ...e, signed: true }, 1, base);
    expect(px(s, 0, 0).slice(0, 3)).toEqual(colour('rdbu', 0).map((v) => Math.round(0.75 * v)));
  });
});
