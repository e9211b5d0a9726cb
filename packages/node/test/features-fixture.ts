/** Fashion-MNIST written as an image folder (ROOT/<class>/<n>.png): the first `perClass` of each class. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseIdx } from '@convlens/core/data/idx';
import sharp from 'sharp';
import { DATASETS } from '../src/data/catalog.ts';

const readIdxFile = async (path: string) => parseIdx(gunzipSync(await readFile(path)), path);

/** The catalog's Fashion-MNIST names as folder names ('T-shirt/top' → 'T-shirt_top'). */
export const FASHION_CLASSES = DATASETS['fashion-mnist'].classNames.map((n) => n.replace(/[/\\]/g, '_'));

export async function writeFashionFolder(
  datasets: string,
  root: string,
  perClass: number,
  split: 'train' | 't10k' = 't10k',
): Promise<number> {
  const images = await readIdxFile(join(datasets, 'fashion-mnist', `${split}-images-idx3-ubyte.gz`));
  const labels = await readIdxFile(join(datasets, 'fashion-mnist', `${split}-labels-idx1-ubyte.gz`));
  const counts = new Array(10).fill(0);
  let written = 0;
  for (let i = 0; i < labels.data.length && written < perClass * 10; i++) {
    const k = labels.data[i];
    if (counts[k] >= perClass) continue;
    const dir = join(root, FASHION_CLASSES[k]);
    await mkdir(dir, { recursive: true });
    const px = Buffer.from(images.data.subarray(i * 784, (i + 1) * 784));
    await writeFile(
      join(dir, `${String(counts[k]).padStart(4, '0')}.png`),
      await sharp(px, { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer(),
    );
    counts[k]++;
    written++;
  }
  return written;
}

/** A pw11 run: one epoch on 600 MNIST digits (the shared test split), seeded. */
export async function trainPw11(datasets: string, out: string): Promise<void> {
  const { trainCommand } = await import('../src/tasks/train.ts');
  await trainCommand(
    {
      model: 'pw11',
      dataset: 'mnist',
      dataDir: datasets,
      download: false,
      epochs: 1,
      limit: 600,
      batchSize: 64,
      optimizer: 'adam',
      valSplit: 0.2,
      seed: 1,
      out,
      backend: 'wasm',
    },
    () => {},
  );
}
