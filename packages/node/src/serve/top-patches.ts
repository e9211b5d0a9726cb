/**
 * Top-k dataset patches of one filter, from a stats run (RUN_DIR/stats/index.json, written by
 * `convlens stats`): the index records, per filter, the dataset image indices and the receptive-field
 * boxes; the pixels are cropped here from the run's dataset (test split, read once and cached) and
 * sent as PNG data URLs, so the page shows exactly the patches the statistics found.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageSet } from '@convlens/core/data/types';
import { cropFromSet } from '@convlens/core/stats/collector';
import sharp from 'sharp';
import { loadDataset } from '../data/load.ts';

export interface Patch {
  image: number;
  label: number;
  className?: string;
  value: number;
  box: { y0: number; x0: number; y1: number; x1: number };
  /** data:image/png;base64,… of the patch at its own size. */
  png: string;
}

const sets = new Map<string, Promise<ImageSet>>();

function testSet(dataset: string): Promise<ImageSet> {
  let p = sets.get(dataset);
  if (!p) {
    p = loadDataset(dataset, { download: false, train: false }).then((d) => d.test);
    p.catch(() => sets.delete(dataset));
    sets.set(dataset, p);
  }
  return p;
}

export async function topPatches(
  runDir: string,
  dataset: string,
  layer: string,
  filter: number,
): Promise<Patch[]> {
  const indexFile = join(runDir, 'stats', 'index.json');
  let index: any;
  try {
    index = JSON.parse(await readFile(indexFile, 'utf8'));
  } catch {
    throw Object.assign(new Error(`no stats run: ${indexFile} is missing or unreadable`), {
      statusCode: 404,
    });
  }
  const figures: any[] = index.files ?? index.figures ?? [];
  const fig = figures.find((f) => f?.kind === 'top-k' && f.layer === layer);
  if (!fig)
    throw Object.assign(new Error(`the stats run has no top-k for layer '${layer}'`), { statusCode: 404 });
  const entries: any[] = fig.filters?.find((f: any) => f.filter === filter)?.entries ?? [];
  if (entries.length === 0) return [];
  // The stats run names its dataset ('mnist', 'mnist (first 500)', a folder); the run's is the fallback.
  const name = typeof index.dataset === 'string' ? index.dataset.replace(/ \(first \d+\)$/, '') : dataset;
  let set: ImageSet;
  try {
    set = await testSet(name);
  } catch (err) {
    throw Object.assign(new Error(`dataset '${name}' for the patches: ${(err as Error).message}`), {
      statusCode: 404,
    });
  }
  const crop = cropFromSet(set);
  const whole = { y0: 0, x0: 0, y1: set.height - 1, x1: set.width - 1 };
  return Promise.all(
    entries.map(async (e) => {
      if (!(Number.isInteger(e.image) && e.image >= 0 && e.image < set.count)) {
        throw new Error(`stats index names image ${e.image}, the dataset has ${set.count}`);
      }
      const box = e.box ?? whole;
      const bytes = crop(e.image, box);
      const png = await sharp(Buffer.from(bytes), {
        raw: { width: box.x1 - box.x0 + 1, height: box.y1 - box.y0 + 1, channels: set.channels as 1 | 3 },
      })
        .png()
        .toBuffer();
      return {
        image: e.image,
        label: e.label,
        className: e.className,
        value: e.value,
        box,
        png: `data:image/png;base64,${png.toString('base64')}`,
      };
    }),
  );
}
