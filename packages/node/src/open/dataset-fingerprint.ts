/**
 * A short identity of a whole dataset as a job sees it, so shard partials of different data never merge
 * and a finished shard is recognised on rerun. Every shard computes it over the whole dataset (not its
 * own images), so all shards agree.
 *
 * - In-memory sets (IDX, a run's held-out split): the pixel bytes and labels, hashed in full (SHA-256 runs
 *   at ~1 GB/s: 60,000 Fashion-MNIST images in well under a second).
 * - Image folders: each file's path relative to the root, its size and its label, in listing order —
 *   no content and no modification time. Reading every byte of an ImageNet-size folder (6.4 GB for the
 *   50,000 validation images) in each of 100 shards would cost more than the shards' own work, while a
 *   stat per file is ~1 s for 50,000 files. Modification times are left out because staging a folder
 *   onto a node's local disk (cp, rsync without -t) changes them but not the images. What this misses:
 *   an image rewritten in place with exactly the same byte size.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import type { OpenedDataset } from './open-dataset.ts';

export interface FingerprintOptions {
  /** The names the labels index (default the dataset's, i.e. the model's classes). */
  classNames?: string[];
}

/** 16 hex digits identifying the dataset's images (content or files) and labels. */
export async function datasetFingerprint(d: OpenedDataset, o: FingerprintOptions = {}): Promise<string> {
  const h = createHash('sha256');
  h.update(`${d.kind}\n${d.count}\n${d.labelled}\n${(o.classNames ?? d.classNames).join('\n')}\n`);
  if (d.whole) {
    const w = d.whole;
    h.update(`${w.height}×${w.width}×${w.channels}\n`);
    h.update(w.images.subarray(0, w.count * w.height * w.width * w.channels));
    h.update(new Uint8Array(d.labels.buffer, d.labels.byteOffset, d.labels.byteLength));
    return h.digest('hex').slice(0, 16);
  }
  const root = resolve(d.name);
  const sizes = await mapLimit(
    d.count,
    32,
    async (i) => (await stat(resolve(d.source(i))).catch(() => null))?.size,
  );
  for (let i = 0; i < d.count; i++) {
    const rel = relative(root, resolve(d.source(i)))
      .split('\\')
      .join('/');
    h.update(`${rel}\0${sizes[i] ?? 'missing'}\0${d.labelled ? d.labels[i] : ''}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

/** fn(0…n-1) with at most `limit` in flight; results in order. */
async function mapLimit<R>(n: number, limit: number, fn: (i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return out;
}
