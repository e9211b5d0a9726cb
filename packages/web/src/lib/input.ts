/**
 * The explorer's input pipeline, as pure functions: an image of any size is fitted to the model's input
 * by its resize policy, read as pixels in [0, 1], and turned into model input by core's applyPreprocess
 * with the Preprocess the server sent, the same definition the CLI and the lab use.
 */
import type { ExplorerPreprocess } from '@convlens/core/explorer/protocol';
import { applyPreprocess, type ResizeMode } from '@convlens/core/preprocess/presets';

/** A source rectangle (canvas drawImage's sx, sy, sw, sh). */
export interface SourceRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The part of a srcW×srcH image drawn onto the dstW×dstH input: 'fill' takes all of it (stretched);
 * 'crop' the centred rectangle of the input's aspect ratio (the shorter side scaled to fit, the rest
 * cut equally on both sides; sharp's fit 'cover', Keras/torchvision's resize-then-centre-crop).
 */
export function sourceRect(
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
  mode: ResizeMode,
): SourceRect {
  if (mode === 'fill' || srcW * dstH === srcH * dstW) return { x: 0, y: 0, width: srcW, height: srcH };
  // Wider than the input: full height, centre columns; else full width, centre rows.
  const wider = srcW * dstH > srcH * dstW;
  const width = wider ? (srcH * dstW) / dstH : srcW;
  const height = wider ? srcH : (srcW * dstH) / dstW;
  return { x: (srcW - width) / 2, y: (srcH - height) / 2, width, height };
}

/**
 * RGBA bytes (a canvas's getImageData) of a w×h image at the model's size → H·W·C floats in [0, 1].
 * One channel: the image's luma (Rec. 709 weights; exact for grey images, whose R = G = B).
 */
export function rgbaToPixels(rgba: ArrayLike<number>, w: number, h: number, channels: number): Float32Array {
  if (rgba.length !== w * h * 4) throw new Error(`image has ${rgba.length} bytes, expected ${w}×${h}×4`);
  if (channels !== 1 && channels !== 3) throw new Error(`models read 1 or 3 channels, not ${channels}`);
  const px = new Float32Array(w * h * channels);
  for (let i = 0; i < w * h; i++) {
    const r = rgba[i * 4];
    const g = rgba[i * 4 + 1];
    const b = rgba[i * 4 + 2];
    if (channels === 3) {
      px[i * 3] = r / 255;
      px[i * 3 + 1] = g / 255;
      px[i * 3 + 2] = b / 255;
    } else px[i] = r === g && g === b ? r / 255 : (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  }
  return px;
}

/** Pixels in [0, 1] (H·W·C, the model's size) → the model's input, by its own preprocessing. */
export function modelInput(
  preprocess: ExplorerPreprocess,
  pixels: Float32Array,
  [h, w, c]: readonly [number, number, number],
): Float32Array {
  if (pixels.length !== h * w * c)
    throw new Error(`input has ${pixels.length} values, expected ${h}×${w}×${c}`);
  return applyPreprocess(preprocess, pixels, c);
}
