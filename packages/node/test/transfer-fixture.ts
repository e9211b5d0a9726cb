/** Test fixture: Fashion-MNIST classes written as an ImageFolder of PNGs (a few mixed sizes, one corrupt file). */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseIdx } from '@convlens/core/data/idx';
import sharp from 'sharp';

const FASHION = '/work/shared/datasets/fashion-mnist';

export async function fashionTest(): Promise<{ images: Uint8Array; labels: Uint8Array }> {
  const img = parseIdx(gunzipSync(await readFile(join(FASHION, 't10k-images-idx3-ubyte.gz'))), 'images');
  const lab = parseIdx(gunzipSync(await readFile(join(FASHION, 't10k-labels-idx1-ubyte.gz'))), 'labels');
  return { images: img.data as Uint8Array, labels: lab.data as Uint8Array };
}

/** Writes `perClass` images of each chosen class to root/<name>/<i>.png; every 7th one upscaled to 40×40. */
export async function writeImageFolder(
  root: string,
  classes: Record<string, number>,
  perClass: number,
  offset = 5000,
): Promise<string[]> {
  const { images, labels } = await fashionTest();
  const paths: string[] = [];
  for (const [name, label] of Object.entries(classes)) {
    await mkdir(join(root, name), { recursive: true });
    let k = 0;
    for (let i = offset; i < labels.length && k < perClass; i++) {
      if (labels[i] !== label) continue;
      const raw = Buffer.from(images.subarray(i * 784, (i + 1) * 784));
      let pipe = sharp(raw, { raw: { width: 28, height: 28, channels: 1 } });
      if (k % 7 === 3) pipe = pipe.resize(40, 40);
      const path = join(root, name, `${k}.png`);
      await writeFile(path, await pipe.png().toBuffer());
      paths.push(path);
      k++;
    }
  }
  return paths;
}
