/**
 * On-disk cache of the frozen part's outputs: each split's features are computed once (streamed through
 * the extractor batch by batch) into a raw float32 file, then every epoch reads them back in chunks.
 * The cache is keyed by everything that changes the features, so a stale one is never reused.
 */
import { createHash } from 'node:crypto';
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng, shuffleInPlace } from '@convlens/core/data/rng';
import { tf } from '@convlens/core/engine/backend';
import { type ImageItem, type StreamOptions, streamBatches } from '../datasets/image-folder.ts';
import { ensureDir } from '../io/ensure-dir.ts';

export interface CachedSplit {
  file: string;
  /** Number of rows actually cached (corrupt images skipped). */
  n: number;
  rowSize: number;
  labels: Int32Array;
}

/** Counts extractor forward passes (images), to check the cache spares them. */
export const extractorCounter = { images: 0 };

export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/**
 * What identifies an image's content cheaply (as make and rsync do): path, label, size and mtime.
 * A file that can't be stat'ed keys as missing; the stream reports it when it is read.
 */
export async function fileIdentities(items: ImageItem[]): Promise<[string, number, number, number][]> {
  return Promise.all(
    items.map(async (i): Promise<[string, number, number, number]> => {
      const s = await stat(i.path).catch(() => null);
      return [i.path, i.label, s?.size ?? -1, s?.mtimeMs ?? -1];
    }),
  );
}

/** Returns the cached split, computing it first when `dir/<key>.f32` is absent. */
export async function cachedFeatures(
  extractor: tf.LayersModel,
  items: ImageItem[],
  stream: StreamOptions,
  dir: string,
  key: string,
  onBatch?: (n: number) => void,
): Promise<CachedSplit> {
  const featureShape = (extractor.outputs[0].shape as number[]).slice(1);
  const rowSize = featureShape.reduce((a, b) => a * b, 1);
  const file = join(dir, `${key}.f32`);
  const meta = join(dir, `${key}.json`);
  try {
    const m = JSON.parse(await readFile(meta, 'utf8'));
    return { file, n: m.n, rowSize, labels: Int32Array.from(m.labels) };
  } catch {
    // not cached yet
  }
  await ensureDir(dir);
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  const labels: number[] = [];
  try {
    for await (const b of streamBatches(items, stream)) {
      const { height, width, channels } = stream.geometry;
      const feats = tf.tidy(
        () => extractor.predict(tf.tensor4d(b.x, [b.n, height, width, channels])) as tf.Tensor,
      );
      const data = (await feats.data()) as Float32Array;
      feats.dispose();
      extractorCounter.images += b.n;
      await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      labels.push(...b.labels);
      onBatch?.(b.n);
    }
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await writeFile(meta, JSON.stringify({ n: labels.length, rowSize, labels }));
  return { file, n: labels.length, rowSize, labels: Int32Array.from(labels) };
}

/** Yields shuffled batches of cached features, reading `chunkRows` rows from disk at a time. */
export async function* featureBatches(
  split: CachedSplit,
  batchSize: number,
  seed: number,
  chunkRows = 1024,
): AsyncGenerator<{ x: Float32Array; labels: Int32Array; n: number }> {
  const rng = createRng(seed);
  const chunks = [...Array(Math.ceil(split.n / chunkRows)).keys()];
  shuffleInPlace(chunks, rng);
  const fh = await open(split.file, 'r');
  try {
    for (const c of chunks) {
      const start = c * chunkRows;
      const rows = Math.min(chunkRows, split.n - start);
      const buf = new Float32Array(rows * split.rowSize);
      await fh.read(new Uint8Array(buf.buffer), 0, buf.byteLength, start * split.rowSize * 4);
      const order = shuffleInPlace([...Array(rows).keys()], rng);
      for (let s = 0; s < rows; s += batchSize) {
        const idx = order.slice(s, s + batchSize);
        const x = new Float32Array(idx.length * split.rowSize);
        const labels = new Int32Array(idx.length);
        idx.forEach((r, i) => {
          x.set(buf.subarray(r * split.rowSize, (r + 1) * split.rowSize), i * split.rowSize);
          labels[i] = split.labels[start + r];
        });
        yield { x, labels, n: idx.length };
      }
    }
  } finally {
    await fh.close();
  }
}
