/** Top-k galleries: receptive-field patches (uint8 bytes, gray or RGB) as fixed-size tiles. */
import { createImage, type RGBAImage, upscale } from './image.ts';

/** A height×width×channels byte patch as RGBA, upscaled to about `size` px on its longer side. */
export function patchImage(
  patch: Uint8Array,
  height: number,
  width: number,
  channels: number,
  size = 56,
): RGBAImage {
  if (patch.length !== height * width * channels) {
    throw new Error(`patch has ${patch.length} bytes, expected ${height}×${width}×${channels}`);
  }
  const img = createImage(width, height);
  for (let p = 0; p < height * width; p++) {
    const r = patch[p * channels];
    const g = channels === 3 ? patch[p * 3 + 1] : r;
    const b = channels === 3 ? patch[p * 3 + 2] : r;
    img.data.set([r, g, b, 255], p * 4);
  }
  return upscale(img, Math.max(1, Math.floor(size / Math.max(height, width))));
}

/** A tile of fixed size with the image centred (patches clipped at the border are smaller). */
export function padTo(img: RGBAImage, width: number, height: number): RGBAImage {
  if (img.width === width && img.height === height) return img;
  const out = createImage(Math.max(width, img.width), Math.max(height, img.height), [235, 235, 235, 255]);
  const x0 = Math.floor((out.width - img.width) / 2);
  const y0 = Math.floor((out.height - img.height) / 2);
  for (let y = 0; y < img.height; y++)
    out.data.set(
      img.data.subarray(y * img.width * 4, (y + 1) * img.width * 4),
      ((y0 + y) * out.width + x0) * 4,
    );
  return out;
}
