/**
 * Conv kernels as tiles on one shared symmetric range: a diverging map (blue −, white 0, red +) per
 * input channel, or, for 3-channel inputs, one RGB image with 0 at mid-grey.
 */
import { mapToImage, type ValueRange } from './colormap.ts';
import { createImage, type RGBAImage, upscale } from './image.ts';

export interface KernelSource {
  kh: number;
  kw: number;
  inChannels: number;
  range: ValueRange;
  kernel(filter: number, channel: number): Float32Array;
}

export const filterScale = (kh: number, kw: number) => Math.max(2, Math.round(48 / Math.max(kh, kw)));

/** Tiles for one filter: [RGB] when the layer reads 3 channels, otherwise one per input channel. */
export function filterTiles(
  src: KernelSource,
  filter: number,
  scale = filterScale(src.kh, src.kw),
): RGBAImage[] {
  const { kh, kw, range } = src;
  if (src.inChannels === 3) {
    const m = Math.max(Math.abs(range.min), Math.abs(range.max)) || 1;
    const img = createImage(kw, kh);
    for (let c = 0; c < 3; c++) {
      const k = src.kernel(filter, c);
      for (let p = 0; p < kh * kw; p++) img.data[p * 4 + c] = Math.round(127.5 + (127.5 * k[p]) / m);
    }
    return [upscale(img, scale)];
  }
  return Array.from({ length: src.inChannels }, (_, c) =>
    upscale(mapToImage(src.kernel(filter, c), kw, kh, { colormap: 'rdbu', range }), scale),
  );
}
