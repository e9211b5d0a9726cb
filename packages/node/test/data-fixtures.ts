/** Tiny IDX datasets written to temp folders, for the data tests (no real data needed). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '@convlens/core/data/idx';

export interface FixtureOptions {
  test?: number;
  /** Training examples; 0 writes no training images (labels only when trainLabelsOnly). */
  train?: number;
  trainLabelsOnly?: boolean;
  gz?: boolean;
  height?: number;
  width?: number;
  classes?: number;
}

/** Image i of a split: every pixel = (i * 7 + offset) % 256, so tests can tell images apart. Label i % classes. */
export function fixtureSplit(n: number, h: number, w: number, classes: number, offset: number) {
  const images = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) images.fill((i * 7 + offset) % 256, i * h * w, (i + 1) * h * w);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % classes);
  return { images: encodeIdx(images, [n, h, w]), labels: encodeIdx(labels, [n]) };
}

export async function writeFixture(dir: string, opts: FixtureOptions = {}): Promise<string> {
  const { test = 20, train = 0, gz = false, height = 4, width = 3, classes = 10 } = opts;
  const put = (name: string, bytes: Uint8Array) =>
    writeFile(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  const t = fixtureSplit(test, height, width, classes, 1);
  await put('t10k-images-idx3-ubyte', t.images);
  await put('t10k-labels-idx1-ubyte', t.labels);
  if (train > 0 || opts.trainLabelsOnly) {
    const tr = fixtureSplit(Math.max(train, 1), height, width, classes, 3);
    if (!opts.trainLabelsOnly) await put('train-images-idx3-ubyte', tr.images);
    await put('train-labels-idx1-ubyte', tr.labels);
  }
  return dir;
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'convlens-data-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
