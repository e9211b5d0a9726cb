/** A horizontal colour bar for a colormap: the legend that explains a figure's value scale. */
import { type ColormapName, lut } from './colormap.ts';
import { createImage, type RGBAImage } from './image.ts';

export function colorBar(colormap: ColormapName, width = 160, height = 12): RGBAImage {
  const table = lut(colormap);
  const img = createImage(width, height);
  for (let x = 0; x < width; x++) {
    const k = Math.round((x / Math.max(1, width - 1)) * 255) * 3;
    for (let y = 0; y < height; y++)
      img.data.set([table[k], table[k + 1], table[k + 2], 255], (y * width + x) * 4);
  }
  return img;
}
