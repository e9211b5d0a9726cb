/**
 * Output folders of figure-writing jobs: an index that records what every written file shows, and a
 * guard so that replacing --out (atomically, as a whole) can never delete a user's own files.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ValueRange } from '@convlens/core/render/colormap';
import type { RGBAImage } from '@convlens/core/render/image';
import { writePng } from '../io/png.ts';

/** One entry of a job's index.json: a file and what it shows. */
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
