/**
 * Ground-truth regions for the localisation metrics, as [H·W] masks (1 inside): the stroke of a digit
 * (pixels well above the image's background) or boxes drawn by the user (read from a JSON beside the
 * image by packages/node open/ground-truth.ts).
 */
import type * as tf from '@tensorflow/tfjs';

/**
 * Stroke masks of a batch [N, H, W, C]: pixels whose channel mean lies above
 * min + threshold·(max − min) of their own image, so any monotone preprocessing (raw 0–255, [0, 1],
 * standardized) gives the same mask. Default threshold 0.5.
 */
export async function strokeMasks(input: tf.Tensor4D, threshold = 0.5): Promise<Uint8Array[]> {
  if (!(threshold >= 0 && threshold < 1))
    throw new Error(`stroke threshold must lie in [0, 1), got ${threshold}`);
  const [N, H, W, C] = input.shape;
  const x = (await input.data()) as Float32Array;
  const masks: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const g = new Float32Array(H * W);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let p = 0; p < H * W; p++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += x[(i * H * W + p) * C + c];
      g[p] = s / C;
      lo = Math.min(lo, g[p]);
      hi = Math.max(hi, g[p]);
    }
    const cut = lo + threshold * (hi - lo);
    masks.push(Uint8Array.from(g, (v) => (hi > lo && v > cut ? 1 : 0)));
  }
  return masks;
}

/** An axis-aligned box in pixels: x0/y0 inclusive, x1/y1 exclusive (as methods/faithfulness Box). */
export interface RegionBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The union of boxes as an [H·W] mask; boxes are clipped to the image. */
export function boxesMask(boxes: RegionBox[], height: number, width: number): Uint8Array {
  const m = new Uint8Array(height * width);
  for (const b of boxes) {
    const x0 = Math.max(0, Math.floor(b.x0));
    const y0 = Math.max(0, Math.floor(b.y0));
    const x1 = Math.min(width, Math.ceil(b.x1));
    const y1 = Math.min(height, Math.ceil(b.y1));
    for (let y = y0; y < y1; y++) m.fill(1, y * width + x0, Math.max(y * width + x0, y * width + x1));
  }
  return m;
}
