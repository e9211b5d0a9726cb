/**
 * Explanation overlays for photo-size inputs. Pixel-level maps (saliency, gradient × input, integrated
 * gradients, guided backprop) of a 224×224 image put nearly all their mass in a few hundred pixels: on a
 * [0, max] or ±max scale everything else is drawn as zero and the map looks blank. As Captum's
 * visualize_image_attr does (outlier_perc), the colour scale ends at the 99th percentile of |value|,
 * so the top 1% saturate; smooth maps (CAMs, occlusion, LIME segments) barely change.
 */
import type { ValueRange } from '@convlens/core/render/colormap';
import type { RGBAImage } from '@convlens/core/render/image';
import { drawOverlay, type MapSet } from '@convlens/core/render/overlay';

export const OVERLAY_PERCENTILE = 0.99;

/** [0, p] for unsigned maps, [−p, p] for signed ones, p = the q-quantile of |value| (finite values). */
export function percentileRange(
  values: ArrayLike<number>,
  signed: boolean,
  q = OVERLAY_PERCENTILE,
): ValueRange {
  const mags: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = signed ? Math.abs(values[i]) : Math.max(0, values[i]);
    if (Number.isFinite(v)) mags.push(v);
  }
  mags.sort((a, b) => a - b);
  const p = Math.max(mags[Math.min(mags.length - 1, Math.floor(q * mags.length))] ?? 0, 1e-12);
  return signed ? { min: -p, max: p } : { min: 0, max: p };
}

/** Map `i` of an explanation over its image, on the percentile scale above. */
export function drawReportOverlay(e: MapSet, i: number, base: RGBAImage): RGBAImage {
  return drawOverlay(base, e.maps[i], e.width, e.height, {
    signed: e.signed,
    range: percentileRange(e.maps[i], e.signed),
  });
}
