/**
 * Figure plumbing shared by the inside-the-network commands: labelled tiles and grids, vertical
 * stacking, and an index that records what every written file shows.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ValueRange } from '@convlens/core/render/colormap';
import { blit, createImage, grid, type RGBAImage } from '@convlens/core/render/image';
import { labelledPanel, writePng } from '../io/png.ts';

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

/** One entry of a command's index.json: a file and what it shows. */
export interface FigureEntry {
  file: string;
  kind: string;
  layer?: string;
  filter?: number;
  class?: number;
  range?: ValueRange;
  [key: string]: unknown;
}

/** Collects written files for the index, writing PNGs into the (temporary) output directory. */
export class FigureSet {
  readonly entries: FigureEntry[] = [];
  constructor(private readonly dir: string) {}

  async png(entry: FigureEntry, img: RGBAImage): Promise<void> {
    await writePng(join(this.dir, entry.file), img);
    this.entries.push(entry);
  }
}

/** A filename-safe form of a layer name. */
export const safeName = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '_');

/**
 * Output directories are replaced as a whole (atomically), so refuse one that holds anything but
 * an earlier convlens output: a mistyped --out must never delete a user's files.
 */
export async function checkOutDir(out: string): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(out)).isDirectory()) throw new Error(`--out ${out}: exists and is not a directory`);
    entries = await readdir(out);
  } catch (err: any) {
    if (err?.code === 'ENOENT') return;
    throw err;
  }
  if (entries.length > 0 && !entries.includes('index.json')) {
    throw new Error(
      `--out ${out}: directory is not empty and holds no convlens index.json; choose another or empty it`,
    );
  }
}
