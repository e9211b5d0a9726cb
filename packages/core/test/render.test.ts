import { describe, expect, it } from 'vitest';
import { categoricalColor, lut, mapToImage, symmetricRange, valueRange } from '../src/render/colormap.ts';
import { blit, createImage, crop, grid, upscale } from '../src/render/image.ts';

describe('colormaps', () => {
  it('gray runs black to white; rdbu runs blue (negative) to red (positive)', () => {
    const g = lut('gray');
    expect([...g.slice(0, 3)]).toEqual([0, 0, 0]);
    expect([...g.slice(255 * 3)]).toEqual([255, 255, 255]);
    const d = lut('rdbu');
    expect(d[2]).toBeGreaterThan(d[0]); // low end: blue > red
    expect(d[255 * 3]).toBeGreaterThan(d[255 * 3 + 2]); // high end: red > blue
  });

  it('maps values through an explicit range, clamps outside it, and marks non-finite values', () => {
    const img = mapToImage([-1, 0, 1, Number.NaN, 5], 5, 1, { colormap: 'gray', range: { min: -1, max: 1 } });
    const px = (i: number) => [...img.data.slice(i * 4, i * 4 + 3)];
    expect(px(0)).toEqual([0, 0, 0]);
    expect(px(2)).toEqual([255, 255, 255]);
    expect(px(1)[0]).toBeGreaterThan(100);
    expect(px(1)[0]).toBeLessThan(160);
    expect(px(3)).toEqual([255, 0, 255]);
    expect(px(4)).toEqual([255, 255, 255]);
    expect(() => mapToImage([1, 2], 3, 1)).toThrow(/2 values, expected 3×1/);
  });

  it('ranges ignore non-finite values; symmetric ranges centre on 0', () => {
    expect(valueRange([3, Number.NaN, -2, Number.POSITIVE_INFINITY])).toEqual({ min: -2, max: 3 });
    expect(symmetricRange([0.5, -2])).toEqual({ min: -2, max: 2 });
    expect(valueRange([])).toEqual({ min: 0, max: 0 });
  });

  it('categorical colours differ for the first 10 indices', () => {
    const keys = new Set(Array.from({ length: 10 }, (_, i) => categoricalColor(i).join()));
    expect(keys.size).toBe(10);
  });
});

describe('images', () => {
  it('crops a window, shifted back inside the image at the edges', () => {
    const img = createImage(5, 4);
    for (let i = 0; i < 20; i++) img.data[i * 4] = i; // red channel = pixel index
    const red = (c: ReturnType<typeof crop>) =>
      Array.from({ length: c.width * c.height }, (_, i) => c.data[i * 4]);
    expect(red(crop(img, 1, 1, 2, 2))).toEqual([6, 7, 11, 12]);
    // Asked past the right/bottom edge: the window slides in and keeps its size.
    const c = crop(img, 4, 3, 3, 2);
    expect([c.width, c.height]).toEqual([3, 2]);
    expect(red(c)).toEqual([12, 13, 14, 17, 18, 19]);
    expect(red(crop(img, -2, -2, 1, 1))).toEqual([0]);
  });

  it('upscales by pixel replication, blits with clipping, and lays out grids', () => {
    const a = createImage(2, 1, [10, 20, 30, 255]);
    a.data.set([200, 0, 0, 255], 4);
    const u = upscale(a, 3);
    expect([u.width, u.height]).toEqual([6, 3]);
    expect([...u.data.slice((2 * 6 + 5) * 4, (2 * 6 + 5) * 4 + 3)]).toEqual([200, 0, 0]);
    const dst = createImage(3, 3, [0, 0, 0, 255]);
    blit(dst, u, 1, 1);
    expect([...dst.data.slice(0, 3)]).toEqual([0, 0, 0]);
    expect([...dst.data.slice((1 * 3 + 1) * 4, (1 * 3 + 1) * 4 + 3)]).toEqual([10, 20, 30]);
    const g = grid([a, a, a], { columns: 2, gap: 1 });
    expect([g.width, g.height]).toEqual([5, 3]);
  });
});
