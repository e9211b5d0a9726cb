/**
 * Figure layout shared by the inside-the-network jobs and the lab report: labelled tile grids, vertical
 * stacking, and short numbers for captions.
 */
import type { ValueRange } from '@convlens/core/render/colormap';
import { blit, createImage, grid, type RGBAImage } from '@convlens/core/render/image';
import { labelledPanel } from '../io/png.ts';

/** Short number for captions: 3 significant digits. */
export const num = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(3)).toString() : String(v));
export const rangeText = (r: ValueRange) => `[${num(r.min)}, ${num(r.max)}]`;

/** Labels every tile (small font) and lays them out in a grid. */
export async function labelledGrid(
  tiles: RGBAImage[],
  labels: { title?: string; caption?: string[] }[],
  columns?: number,
): Promise<RGBAImage> {
  const panels = await Promise.all(tiles.map((t, i) => labelledPanel(t, { ...labels[i], fontSize: 10 })));
  return grid(panels, { columns, gap: 4, background: [255, 255, 255, 255] });
}

/** Images one under the other, centred, on white. */
export function stack(images: RGBAImage[], gap = 8): RGBAImage {
  const width = Math.max(...images.map((i) => i.width));
  const height = images.reduce((s, i) => s + i.height, 0) + gap * (images.length - 1);
  const out = createImage(width, height);
  let y = 0;
  for (const img of images) {
    blit(out, img, Math.floor((width - img.width) / 2), y);
    y += img.height + gap;
  }
  return out;
}
