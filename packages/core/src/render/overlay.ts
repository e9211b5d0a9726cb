/**
 * The one explanation overlay: an attribution map of any size drawn over its input image, used by the
 * CLI, the lab report and the explorer so all three show the same picture.
 *
 * Colour convention:
 * - unsigned maps (CAMs, saliency, occlusion drop: non-negative by construction) go through inferno
 *   over [0, max]. Zero means "no evidence" and stays black; a map's colours stay proportional to its
 *   values. Stretching [min, max] instead would paint the least-relevant pixel of a nearly flat map as
 *   "no evidence" and blow noise up to full contrast. Negative values (rounding) clamp to 0.
 * - signed maps (IG, gradient × input, LIME weights) go through rdbu over [−m, m], m = max |value|:
 *   blue negative, white 0, red positive, so the sign is never hidden by the range.
 * - "max" is the 99th percentile of the values (of |value| for signed maps), as Captum's
 *   visualize_image_attr clips outliers: pixel-level maps (saliency, IG) of a 224×224 photo put nearly
 *   all their mass in a few hundred pixels, and on a true-max scale everything else is drawn as zero.
 *   The top 1% saturate; smooth maps (CAMs, occlusion, segments) barely change, and maps of up to 100
 *   values keep their true maximum.
 */
import { type ColormapName, lut, type ValueRange } from './colormap.ts';
import { createImage, type RGBAImage, upscale } from './image.ts';

/** The smallest map maximum treated as non-zero (an all-zero map is drawn at the colormap's bottom). */
const TINY = 1e-12;

/** Default blend weights of the map over the image: signed maps need more to show their white zero. */
export const OVERLAY_ALPHA = { unsigned: 0.6, signed: 0.75 } as const;

export interface OverlayOptions {
  /** Diverging colours around 0 (see the convention above). */
  signed?: boolean;
  /** Weight of the map colour in the blend, 0–1 (default OVERLAY_ALPHA). */
  alpha?: number;
  /** Override the colormap (default inferno unsigned, rdbu signed). */
  colormap?: ColormapName;
  /** Override the value range mapped to the colormap's ends (default: the convention above). */
  range?: ValueRange;
  /** Integer nearest-neighbour enlargement of the result (keeps 28×28 inputs readable). */
  scale?: number;
}

/** The quantile of the values that ends the colour scale (see the convention above). */
export const OVERLAY_QUANTILE = 0.99;

/** The range the convention gives a map: [0, p] unsigned, [−p, p] signed, p = the `quantile` of the values. */
export function overlayRange(
  values: ArrayLike<number>,
  signed: boolean,
  quantile = OVERLAY_QUANTILE,
): ValueRange {
  const mags: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = signed ? Math.abs(values[i]) : values[i];
    if (Number.isFinite(v)) mags.push(v);
  }
  mags.sort((a, b) => a - b);
  const p = Math.max(mags[Math.min(mags.length - 1, Math.floor(quantile * mags.length))] ?? 0, TINY);
  return signed ? { min: -p, max: p } : { min: 0, max: p };
}

/**
 * Bilinear resampling of a row-major w×h map to outW×outH with half-pixel centres (cv2.resize and
 * torch's align_corners=False): map cell i covers output pixels [i·s, (i+1)·s), as a layer's unit
 * covers its stride of the input. Edges clamp. Same size returns a copy.
 */
export function resizeMap(
  values: ArrayLike<number>,
  w: number,
  h: number,
  outW: number,
  outH: number,
): Float32Array {
  if (values.length !== w * h) throw new Error(`map has ${values.length} values, expected ${w}×${h}`);
  const out = new Float32Array(outW * outH);
  if (w === outW && h === outH) {
    for (let i = 0; i < out.length; i++) out[i] = values[i];
    return out;
  }
  const sx = w / outW;
  const sy = h / outH;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const ty = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const tx = fx - x0;
      const top = values[y0 * w + x0] * (1 - tx) + values[y0 * w + x1] * tx;
      const bottom = values[y1 * w + x0] * (1 - tx) + values[y1 * w + x1] * tx;
      out[y * outW + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/**
 * `map` (row-major mapWidth×mapHeight, any size) resampled to `base`'s size, coloured by the convention
 * above and blended over `base`: out = (1 − alpha)·base + alpha·colour, opaque. Non-finite values are
 * drawn magenta, as mapToImage does.
 */
export function drawOverlay(
  base: RGBAImage,
  map: ArrayLike<number>,
  mapWidth: number,
  mapHeight: number,
  o: OverlayOptions = {},
): RGBAImage {
  const signed = o.signed ?? false;
  const alpha = o.alpha ?? (signed ? OVERLAY_ALPHA.signed : OVERLAY_ALPHA.unsigned);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay alpha must be in [0, 1], got ${alpha}`);
  const values = resizeMap(map, mapWidth, mapHeight, base.width, base.height);
  // The range comes from the map itself, not the resampled copy: resampling never exceeds its extremes.
  const { min, max } = o.range ?? overlayRange(map, signed);
  const span = max - min;
  const table = lut(o.colormap ?? (signed ? 'rdbu' : 'inferno'));
  const out = createImage(base.width, base.height);
  for (let p = 0; p < values.length; p++) {
    const v = values[p];
    const i = p * 4;
    let r = 255;
    let g = 0;
    let b = 255;
    if (Number.isFinite(v)) {
      const t = span > 0 ? Math.min(1, Math.max(0, (v - min) / span)) : 0;
      const k = Math.round(t * 255) * 3;
      r = table[k];
      g = table[k + 1];
      b = table[k + 2];
    }
    out.data[i] = Math.round((1 - alpha) * base.data[i] + alpha * r);
    out.data[i + 1] = Math.round((1 - alpha) * base.data[i + 1] + alpha * g);
    out.data[i + 2] = Math.round((1 - alpha) * base.data[i + 2] + alpha * b);
    out.data[i + 3] = 255;
  }
  return upscale(out, o.scale ?? 1);
}

/** What drawExplanation needs of an explanation (core methods' Explanation has it). */
export interface MapSet {
  maps: ArrayLike<number>[];
  width: number;
  height: number;
  signed: boolean;
}

/** Map `i` of an explanation over its input image, enlarged `scale` times (the report's and CLI's tiles). */
export function drawExplanation<E extends MapSet>(e: E, i: number, base: RGBAImage, scale = 1): RGBAImage {
  return drawOverlay(base, e.maps[i], e.width, e.height, { signed: e.signed, scale });
}
