import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '@convlens/core/data/idx';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LoadedDataset, loadDataset, readIdxFile, trainValSplit } from '../src/data/load.ts';
import { tempDir, writeFixture } from './data-fixtures.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const opts = { env: {}, homeDir: '/nonexistent', systemDirs: [], download: false };

describe('loadDataset', () => {
  for (const gz of [false, true]) {
    it(`reads ${gz ? 'gzipped' : 'raw'} IDX files into ImageSets`, async () => {
      await writeFixture(dir, { test: 20, train: 30, gz, height: 4, width: 3 });
      const d = await loadDataset(dir, opts);
      expect(d.train).toMatchObject({ count: 30, height: 4, width: 3, channels: 1, numClasses: 10 });
      expect(d.test).toMatchObject({ count: 20, height: 4, width: 3, channels: 1, numClasses: 10 });
      expect(d.test.classNames).toBeUndefined();
      // Image i of the test split is filled with (7i + 1) % 256, label i % 10.
      expect(d.test.images[5 * 12]).toBe(36);
      expect(d.test.images[5 * 12 + 11]).toBe(36);
      expect(d.test.labels[13]).toBe(3);
      expect(d.train!.images[2 * 12]).toBe(17);
      expect(d.provenance).toEqual({ dataset: dir, source: dir, split: 'standard' });
    });
  }

  it('uses class names for named datasets and one class count for both splits', async () => {
    await writeFixture(join(dir), { test: 6, classes: 3, gz: true });
    const d = await loadDataset('fashion-mnist', { ...opts, dataDir: dir });
    expect(d.test.numClasses).toBe(10);
    expect(d.test.classNames).toEqual([
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ]);
    const m = await loadDataset('mnist', { ...opts, dataDir: dir });
    expect(m.test.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('can skip reading the training files', async () => {
    await writeFixture(dir, { test: 10, train: 10 });
    const d = await loadDataset(dir, { ...opts, train: false });
    expect(d.train).toBeUndefined();
    expect(d.resolved.hasTrain).toBe(true);
    expect(d.provenance.split).toBe('standard');
  });

  it('a test-only folder loads with provenance from-test and a plain note', async () => {
    await writeFixture(dir, { test: 10, trainLabelsOnly: true });
    const d = await loadDataset(dir, opts);
    expect(d.train).toBeUndefined();
    expect(d.provenance.split).toBe('from-test');
    expect(d.provenance.note).toBe(
      `${dir} in ${dir} has no training images, only the 10-image test split; training and validation data must be split from it.`,
    );
  });
});

describe('bad files', () => {
  const images = () => encodeIdx(new Uint8Array(5 * 4), [5, 2, 2]);
  const labels = (n = 5) => encodeIdx(new Uint8Array(n), [n]);
  const write = async (img: Uint8Array, lab: Uint8Array, gz = false) => {
    const f = (b: Uint8Array) => (gz ? gzipSync(b) : b);
    const suffix = gz ? '.gz' : '';
    await writeFile(join(dir, `t10k-images-idx3-ubyte${suffix}`), f(img));
    await writeFile(join(dir, `t10k-labels-idx1-ubyte${suffix}`), f(lab));
  };
  const imgPath = (gz = false) => join(dir, `t10k-images-idx3-ubyte${gz ? '.gz' : ''}`);

  it('truncated IDX data (raw and inside gzip)', async () => {
    await write(images().subarray(0, 20), labels());
    await expect(loadDataset(dir, opts)).rejects.toThrow(
      `${imgPath()}: truncated IDX data: header says 20 bytes (5×2×2), file has 4`,
    );
    await cleanup();
    ({ dir, cleanup } = await tempDir());
    await write(images().subarray(0, 20), labels(), true);
    await expect(loadDataset(dir, opts)).rejects.toThrow(`${imgPath(true)}: truncated IDX data`);
  });

  it('a truncated gzip stream', async () => {
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(images()).subarray(0, 20));
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(labels()));
    await expect(loadDataset(dir, opts)).rejects.toThrow(
      `${imgPath(true)}: corrupt or truncated gzip data (unexpected end of file)`,
    );
  });

  it('wrong magic', async () => {
    const img = images();
    img[0] = 0x12;
    await write(img, labels());
    await expect(loadDataset(dir, opts)).rejects.toThrow(
      `${imgPath()}: not an IDX file: bad magic number 0x12000803`,
    );
  });

  it('header/size mismatch (trailing bytes)', async () => {
    const img = new Uint8Array(images().length + 3);
    img.set(images());
    await write(img, labels());
    await expect(loadDataset(dir, opts)).rejects.toThrow(
      `${imgPath()}: IDX size mismatch: header says 20 bytes (5×2×2), file has 23 (3 extra)`,
    );
  });

  it('label/image count mismatch names both files', async () => {
    await write(images(), labels(4), true);
    await expect(loadDataset(dir, opts)).rejects.toThrow(
      `label/image count mismatch: ${imgPath(true)} has 5 images, ${join(dir, 't10k-labels-idx1-ubyte.gz')} has 4 labels`,
    );
  });

  it('gzip detected by content, whatever the file name; a missing file is named', async () => {
    await writeFile(join(dir, 'x'), gzipSync(labels()));
    expect((await readIdxFile(join(dir, 'x'))).dims).toEqual([5]);
    await expect(readIdxFile(join(dir, 'nope'))).rejects.toThrow(`${join(dir, 'nope')}: file not found`);
  });
});

describe('trainValSplit', () => {
  const counts = (labels: Iterable<number>) => {
    const c = new Array(10).fill(0);
    for (const l of labels) c[l]++;
    return c;
  };

  it('without training images: a stratified split of the test set, labelled from-test, no test set', async () => {
    await writeFixture(dir, { test: 100, trainLabelsOnly: true });
    const d = await loadDataset('mnist', { ...opts, dataDir: dir });
    const s = trainValSplit(d, { valFraction: 0.2, seed: 7 });
    expect(s.train.count).toBe(80);
    expect(s.val.count).toBe(20);
    expect(s.test).toBeUndefined();
    expect(counts(s.val.labels)).toEqual(new Array(10).fill(2));
    expect(s.provenance.split).toBe('from-test');
    expect(s.provenance.note).toBe(
      `Not the standard mnist split: ${dir} has no training images, so train (80) and validation (20) are a ` +
        'seeded stratified split (seed 7) of the 100-image test set; the validation part is the only held-out ' +
        'data and there is no separate test set.',
    );
    // val images are the test images at valIdx.
    const i = s.valIdx[3];
    expect(s.val.images[3 * 12]).toBe(d.test.images[i * 12]);
    expect(Array.from(trainValSplit(d, { valFraction: 0.2, seed: 7 }).valIdx)).toEqual(Array.from(s.valIdx));
    expect(Array.from(trainValSplit(d, { valFraction: 0.2, seed: 8 }).valIdx)).not.toEqual(
      Array.from(s.valIdx),
    );
  });

  it('with training images: validation from train, the test set kept, --limit applied to train', async () => {
    await writeFixture(dir, { test: 20, train: 50 });
    const d: LoadedDataset = await loadDataset(dir, opts);
    const s = trainValSplit(d, { valFraction: 10, seed: 1, limit: 25 });
    expect(s.val.count).toBe(10);
    expect(counts(s.val.labels)).toEqual(new Array(10).fill(1));
    expect(s.train.count).toBe(25);
    expect(s.trainIdx.length).toBe(25);
    expect(s.test).toBe(d.test);
    expect(s.provenance.split).toBe('standard');
    expect(s.provenance.note).toBe(
      'Standard split: validation is 10 of the 50 training images (seeded stratified, seed 1); ' +
        'test is the 20-image test set. Training limited to the first 25 examples.',
    );
    expect(() => trainValSplit(d, { valFraction: 50, seed: 1 })).toThrow(
      'validation size 50 leaves no training examples',
    );
  });
});
