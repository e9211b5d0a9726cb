/**
 * Concepts drawn as coloured regions (pytorch-grad-cam's show_factorization_on_image): each pixel takes
 * the colour of the concept strongest there, as bright as that concept's [0, 1] amount, blended over
 * the image (30% image, 70% colour).
 */
import { categoricalColor } from './colormap.ts';
import { createImage, type RGBAImage } from './image.ts';

/** `regions`: K×H×W at the base image's size, each in [0, 1]. */
export function drawConceptRegions(
  base: RGBAImage,
  regions: ArrayLike<number>,
  k: number,
  imageWeight = 0.3,
): RGBAImage {
  const { width, height } = base;
  const size = width * height;
  if (regions.length !== k * size)
    throw new Error(`concept regions hold ${regions.length} values, expected ${k}×${height}×${width}`);
  const out = createImage(width, height);
  for (let p = 0; p < size; p++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (regions[j * size + p] > regions[best * size + p]) best = j;
    const amount = Math.max(0, Math.min(1, regions[best * size + p]));
    const colour = categoricalColor(best);
    for (let ch = 0; ch < 3; ch++) {
      out.data[p * 4 + ch] = Math.round(
        imageWeight * base.data[p * 4 + ch] + (1 - imageWeight) * colour[ch] * amount,
      );
    }
    out.data[p * 4 + 3] = 255;
  }
  return out;
}
