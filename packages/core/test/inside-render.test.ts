import { describe, expect, it } from 'vitest';
import { categoricalColor } from '../src/render/colormap.ts';
import { barStrip } from '../src/render/inside-bars.ts';
import { featureMapTiles } from '../src/render/inside-feature-maps.ts';
import { filterTiles } from '../src/render/inside-filters.ts';
import { matrixHeatmap, rowArgmax } from '../src/render/inside-heatmap.ts';
import { modeFilters, modeMapImage } from '../src/render/inside-mode-map.ts';
import { padTo, patchImage } from '../src/render/inside-patches.ts';

const px = (img: { width: number; data: Uint8ClampedArray }, x: number, y: number) => [
  ...img.data.slice((y * img.width + x) * 4, (y * img.width + x) * 4 + 3),
];

describe('inside renderers', () => {
  it('feature-map tiles share the layer range, so a weaker map is darker', () => {
    // 1×2 map, 2 channels: channel 0 = [0, 1], channel 1 = [0, 0.5].
    const { tiles, range, ranges } = featureMapTiles([0, 0, 1, 0.5], 1, 2, 2, { scale: 1 });
    expect(range).toEqual({ min: 0, max: 1 });
    expect(ranges).toEqual([
      { min: 0, max: 1 },
      { min: 0, max: 0.5 },
    ]);
    expect(px(tiles[0], 1, 0)).not.toEqual(px(tiles[1], 1, 0));
    expect(px(tiles[0], 0, 0)).toEqual(px(tiles[1], 0, 0));
  });

  it('bar strips draw positive bars up and negative bars down from the zero line', () => {
    const { image, range } = barStrip([2, -1], { barWidth: 4, height: 31 });
    expect(range).toEqual({ min: -1, max: 2 });
    const zero = Math.round((2 / 3) * 30);
    expect(px(image, 1, 2)).toEqual([31, 119, 180]); // blue above the line
    expect(px(image, 5, zero + 5)).toEqual([214, 39, 40]); // red below
    expect(px(image, 5, 2)).toEqual([255, 255, 255]);
  });

  it('heatmaps have one cell per matrix entry; rowArgmax skips NaN rows', () => {
    const { image, cell } = matrixHeatmap([1, 2, 3, 4, 5, 6], 2, 3, { cell: 5 });
    expect([image.width, image.height, cell]).toEqual([15, 10, 5]);
    expect(rowArgmax([1, 3, 2, Number.NaN, Number.NaN, Number.NaN], 2, 3)).toEqual([1, -1]);
  });

  it('mode maps use the categorical palette and stripe tied pixels', () => {
    const img = modeMapImage({ height: 1, width: 2, mode: [3, 1], share: [1, 0.5], tied: [[3], [1, 4]] }, 6);
    expect(px(img, 0, 0)).toEqual(categoricalColor(3));
    const cellColours = new Set<string>();
    for (let y = 0; y < 6; y++) for (let x = 6; x < 12; x++) cellColours.add(px(img, x, y).join());
    expect(cellColours).toEqual(new Set([categoricalColor(1).join(), categoricalColor(4).join()]));
    expect(modeFilters({ height: 1, width: 2, mode: [3, 1], share: [1, 0.5], tied: [[3], [1, 4]] })).toEqual([
      { filter: 1, pixels: 1 },
      { filter: 3, pixels: 1 },
      { filter: 4, pixels: 1 },
    ]);
  });

  it('filters: a diverging tile per input channel, or one RGB image centred on grey', () => {
    const k = (f: number, c: number) =>
      Float32Array.from({ length: 4 }, (_, p) => (p - 1.5) * (c + 1) * (f + 1));
    const gray = filterTiles({ kh: 2, kw: 2, inChannels: 2, range: { min: -6, max: 6 }, kernel: k }, 0, 1);
    expect(gray).toHaveLength(2);
    const rgb = filterTiles({ kh: 2, kw: 2, inChannels: 3, range: { min: -4.5, max: 4.5 }, kernel: k }, 0, 1);
    expect(rgb).toHaveLength(1);
    // Weight (p − 1.5)(c + 1): pixel 0 is −1.5, −3, −4.5 on R, G, B → 128 − 42.5, 128 − 85, 0.
    expect(px(rgb[0], 0, 0)).toEqual([85, 43, 0]);
  });

  it('patches: gray bytes to RGBA, padded to a common tile size', () => {
    const img = patchImage(Uint8Array.from([0, 255]), 1, 2, 1, 4);
    expect([img.width, img.height]).toEqual([4, 2]);
    expect(px(img, 3, 1)).toEqual([255, 255, 255]);
    const padded = padTo(img, 6, 4);
    expect([padded.width, padded.height]).toEqual([6, 4]);
    expect(px(padded, 1, 1)).toEqual([0, 0, 0]);
    expect(() => patchImage(Uint8Array.from([1]), 2, 2, 1)).toThrow(/expected 2×2×1/);
  });
});
