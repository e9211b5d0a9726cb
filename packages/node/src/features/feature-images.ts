/**
 * The images behind rows of a features folder, as small thumbnails: the folder's model and dataset are
 * reopened through the one model and dataset openers (so a file means what it meant when the features
 * were written: the same resize, crop and class folders), and each row's file (a path relative to the
 * dataset, or idx:<split>:<i>) is found again. The thumbnails are then kept with the embedding (an atlas
 * PNG), so the report and the explorer never need the model or the images again.
 */
import type { RGBAImage } from '@convlens/core/render/image';
import sharp from 'sharp';
import { toRgba } from '../io/png.ts';
import { exampleImage } from '../lab/figures.ts';
import type { OpenDatasetOptions } from '../open/open-dataset.ts';
import { type OpenedModel, openModel } from '../open/open-model.ts';
import { type FeatureDataset, openFeatureDataset } from '../tasks/features.ts';
import type { FeaturesIndex } from './read-features.ts';

export interface ThumbnailSource {
  /** Thumbnails (size × size, aspect kept by a centre crop of the model-size image) of the given rows. */
  read(rows: number[], size: number): Promise<RGBAImage[]>;
  dispose(): void;
}

export interface ThumbnailOptions {
  /** An already opened model and dataset (the lab's); otherwise index.json's are opened. */
  model?: OpenedModel;
  dataset?: FeatureDataset;
  openDataset?: OpenDatasetOptions;
  log?: (s: string) => void;
}

/** The dataset spec that gave index.json's dataset: a run's held-out split was opened without one. */
function datasetSpec(index: FeaturesIndex): string | undefined {
  return /held-out/.test(index.dataset.description) ? undefined : index.dataset.name;
}

export async function openThumbnails(
  index: FeaturesIndex,
  files: string[],
  o: ThumbnailOptions = {},
): Promise<ThumbnailSource> {
  const owned = !o.model;
  const model = o.model ?? (await openModel(index.model.source, { log: o.log }));
  try {
    const fd = o.dataset ?? (await openFeatureDataset(datasetSpec(index), model, o.openDataset));
    const d = fd.data;
    // Row → dataset index: idx:<split>:<i> names it; a folder's relative path is looked up.
    let byFile: Map<string, number> | undefined;
    const datasetIndex = (row: number): number => {
      const f = files[row];
      const m = /^idx:(train|test):(\d+)$/.exec(f);
      if (m) return Number(m[2]);
      byFile ??= new Map(Array.from({ length: d.count }, (_, i) => [fd.file(i), i]));
      const i = byFile.get(f);
      if (i === undefined)
        throw new Error(`${f}: not in dataset ${index.dataset.name} any more (moved or renamed?)`);
      return i;
    };
    return {
      async read(rows, size) {
        const idx = rows.map(datasetIndex);
        for (const i of idx)
          if (i >= d.count)
            throw new Error(`dataset ${index.dataset.name}: image ${i} does not exist (${d.count} images)`);
        const chunk = await d.read(idx);
        if (chunk.indices.length !== idx.length)
          throw new Error(
            `dataset ${index.dataset.name}: ${idx.length - chunk.indices.length} image(s) unreadable`,
          );
        const out: RGBAImage[] = [];
        for (let k = 0; k < idx.length; k++) {
          const img = exampleImage(chunk.set, k);
          const raw = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
          out.push(
            await toRgba(
              sharp(raw, { raw: { width: img.width, height: img.height, channels: 4 } }).resize(size, size, {
                fit: 'cover',
                // Small digits stay crisp; photos are shrunk smoothly.
                kernel: img.width <= size ? 'nearest' : 'lanczos3',
              }),
            ),
          );
        }
        return out;
      },
      dispose() {
        if (owned) model.dispose();
      },
    };
  } catch (err) {
    if (owned) model.dispose();
    throw err;
  }
}
