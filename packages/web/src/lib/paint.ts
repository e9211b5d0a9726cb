/**
 * Drawing core's RGBA images and value maps onto canvases (crisp upscaling for small maps). Explanation
 * overlays are core's drawOverlay (render/overlay.ts), the renderer the CLI and the lab report use.
 */
import { type ColormapName, mapToImage, type ValueRange } from '@convlens/core/render/colormap';
import type { RGBAImage } from '@convlens/core/render/image';

export function putImage(canvas: HTMLCanvasElement, img: RGBAImage): void {
  if (canvas.width !== img.width) canvas.width = img.width;
  if (canvas.height !== img.height) canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
}

export function putMap(
  canvas: HTMLCanvasElement,
  values: ArrayLike<number>,
  w: number,
  h: number,
  colormap: ColormapName = 'viridis',
  range?: ValueRange,
): void {
  putImage(canvas, mapToImage(values, w, h, { colormap, range }));
}

/** H·W·C pixels in [0, 1] (C = 1 or 3) as an RGBA image. */
export function pixelsToImage(pixels: Float32Array, w: number, h: number, c: number): RGBAImage {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    for (let k = 0; k < 3; k++) data[i * 4 + k] = Math.round(255 * pixels[i * c + (c === 3 ? k : 0)]);
    data[i * 4 + 3] = 255;
  }
  return { width: w, height: h, data };
}

/** Pixels of a canvas that differ from its first pixel: a cheap "is anything drawn" check. */
export function isBlank(canvas: HTMLCanvasElement): boolean {
  const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 4; i < d.length; i += 4) {
    if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return false;
  }
  return true;
}
