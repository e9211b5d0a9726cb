/**
 * openDataset on every kind of data: class folders matched to a model's classes (ImageNet names, indices,
 * sorted order), flat folders with a labels CSV or none, corrupt files, photos of odd sizes at the model's
 * size (crop and fill), grey files for an RGB model, an image folder written from an IDX set (same bytes),
 * a run's own held-out data, and labels past 255.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import type { ImageSet } from '@convlens/core/data/types';
import { initBackend, tf } from '@convlens/core/engine/backend';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, trainValSplit } from '../src/data/load.ts';
import { saveModel } from '../src/io/model-io.ts';
import { type OpenDatasetOptions, type OpenedDataset, openDataset } from '../src/open/open-dataset.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { runCli } from './cli-helpers.ts';

const SHARED = join(import.meta.dirname, '../../../../shared');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');
const DATA = join(SHARED, 'datasets');

let dir: string;
let mobilenet: OpenedModel;
/** 28×28 grey, 10 outputs, no class names. */
let digits: OpenedModel;
/** 8×8 RGB, 300 outputs, no class names. */
let wide: OpenedModel;

/** Saves a tiny conv classifier and opens it. */
async function tinyModel(name: string, shape: [number, number, number], classes: number) {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: shape, filters: 2, kernelSize: 3, activation: 'relu' }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: classes, activation: 'softmax' }),
    ],
  });
  await saveModel(model, join(dir, name));
  model.dispose();
  return openModel(join(dir, name), { preset: 'scale01' });
}

/** Writes an H×W×C uint8 image as PNG. */
async function png(path: string, data: Uint8Array, width: number, height: number, channels: 1 | 3) {
  await mkdir(join(path, '..'), { recursive: true });
  await sharp(Buffer.from(data), { raw: { width, height, channels } }).png().toFile(path);
}

/** A plain RGB image of one colour. */
const solid = (width: number, height: number, rgb: [number, number, number]) => {
  const d = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) d.set(rgb, i * 3);
  return d;
};

async function open(root: string, model: OpenedModel, o: OpenDatasetOptions = {}) {
  const notes: string[] = [];
  const ds = await openDataset(root, model, { ...o, log: (s) => notes.push(s) });
  return { ds, notes };
}

async function readAll(ds: OpenedDataset): Promise<ImageSet> {
  return (await ds.read(Array.from({ length: ds.count }, (_, i) => i))).set;
}

/** The one-line error openDataset gives. */
async function failure(
  root: string | undefined,
  model: OpenedModel,
  o: OpenDatasetOptions = {},
  read = false,
): Promise<string> {
  const err = await openDataset(root, model, o)
    .then(async (ds) => {
      if (read) await readAll(ds);
      return new Error('opened');
    })
    .catch((e: Error) => e);
  expect(err.message).not.toBe('opened');
  expect(err.message.split('\n')).toHaveLength(1);
  return err.message;
}

async function train(out: string, dataset: string, extra: string[] = []) {
  const r = await runCli([
    'train',
    '--model',
    'cnn1',
    '--dataset',
    dataset,
    '--data-dir',
    DATA,
    '--no-download',
    '--epochs',
    '1',
    '--batch-size',
    '64',
    '--out',
    out,
    ...extra,
  ]);
  if (r.code !== 0) throw new Error(`training ${out} failed: ${r.stderr}`);
  return out;
}

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-open-dataset-'));
  mobilenet = await openModel(MOBILENET);
  digits = await tinyModel('digits', [28, 28, 1], 10);
  wide = await tinyModel('wide', [8, 8, 3], 300);
});
afterAll(async () => {
  for (const m of [mobilenet, digits, wide]) m?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('class folders', () => {
  it("folders named by ImageNet names map to MobileNet's indices", async () => {
    const root = join(dir, 'imagenet-names');
    await png(join(root, 'espresso/a.png'), solid(40, 30, [90, 50, 20]), 40, 30, 3);
    await png(join(root, 'espresso/b.png'), solid(40, 30, [80, 40, 10]), 40, 30, 3);
    await png(join(root, 'Egyptian_cat/c.png'), solid(30, 40, [120, 120, 110]), 30, 40, 3);
    const { ds, notes } = await open(root, mobilenet);
    expect(ds.kind).toBe('image-folder');
    expect(ds.labelled).toBe(true);
    expect(ds.count).toBe(3);
    // Sorted folders: Egyptian_cat (285) before espresso (967); labels are the model's indices.
    expect(Array.from(ds.labels)).toEqual([285, 967, 967]);
    expect(ds.labels).toBeInstanceOf(Uint16Array);
    expect(ds.classNames[ds.labels[2]]).toBe('espresso');
    expect(ds.description).toMatch(/3 images, class folders, matched by names/);
    expect(notes).toEqual([]);
    const set = await readAll(ds);
    expect(set.count).toBe(3);
    expect(set.images.length).toBe(3 * 224 * 224 * 3);
    expect(Array.from(set.labels)).toEqual([285, 967, 967]);
  });

  it("folders '0'..'9' map to the indices of a model without names", async () => {
    const root = join(dir, 'index-folders');
    const grey = new Uint8Array(28 * 28).fill(100);
    for (const k of ['3', '7', '9']) await png(join(root, k, 'x.png'), grey, 28, 28, 1);
    const { ds, notes } = await open(root, digits);
    expect(Array.from(ds.labels)).toEqual([3, 7, 9]);
    expect(ds.description).toMatch(/matched by indices/);
    expect(notes).toEqual([]);
  });

  it('folders that match no class name fall back to sorted order, with a notice for a named model', async () => {
    const root = join(dir, 'other-names');
    const grey = new Uint8Array(28 * 28).fill(50);
    for (const k of ['zebra', 'ant', 'moth']) await png(join(root, k, 'x.png'), grey, 28, 28, 1);
    // A model without names: these are its classes in sorted order (torchvision's rule), quietly.
    const plain = await open(root, digits);
    expect(Array.from(plain.ds.labels)).toEqual([0, 1, 2]);
    expect(plain.ds.description).toMatch(/sorted-order/);
    expect(plain.notes).toEqual([]);
    // A model with names of its own: the same mapping, said out loud.
    const labels = join(dir, 'animals.txt');
    await writeFile(labels, 'cat\ndog\ncow\n');
    (await tinyModel('named', [28, 28, 1], 3)).dispose();
    const named = await openModel(join(dir, 'named'), { preset: 'scale01', labels });
    expect(named.named).toBe(true);
    const n = await open(root, named);
    expect(Array.from(n.ds.labels)).toEqual([0, 1, 2]);
    expect(n.notes).toHaveLength(1);
    expect(n.notes[0]).toMatch(/sorted folder order/);
    expect(n.notes[0]).toContain(root);
    named.dispose();
  });

  it('folders the model does not know are left out with a notice, or fail with --strict-classes', async () => {
    const root = join(dir, 'some-unknown');
    await png(join(root, 'espresso/a.png'), solid(20, 20, [90, 50, 20]), 20, 20, 3);
    await png(join(root, 'not_a_class/a.png'), solid(20, 20, [1, 2, 3]), 20, 20, 3);
    await png(join(root, 'not_a_class/b.png'), solid(20, 20, [1, 2, 3]), 20, 20, 3);
    const { ds, notes } = await open(root, mobilenet);
    expect(ds.count).toBe(1);
    expect(Array.from(ds.labels)).toEqual([967]);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/1 class\(es\) the model does not know \(not_a_class\): 2 image\(s\) left out/);
    const msg = await failure(root, mobilenet, { strictClasses: true });
    expect(msg).toBe(`${root}: class 'not_a_class' is not one of the model's classes (--strict-classes)`);
  });
});

describe('flat folders', () => {
  let flat: string;
  beforeAll(async () => {
    flat = join(dir, 'flat');
    await png(join(flat, 'a.png'), solid(20, 20, [200, 0, 0]), 20, 20, 3);
    await png(join(flat, 'b.png'), solid(20, 20, [0, 200, 0]), 20, 20, 3);
    await png(join(flat, 'c.png'), solid(20, 20, [0, 0, 200]), 20, 20, 3);
  });

  it('labels.csv with a header, naming classes', async () => {
    const csv = join(dir, 'names.csv');
    await writeFile(csv, 'file,label\na.png,espresso\nb.png,Egyptian cat\nc.png,espresso\n');
    const { ds } = await open(flat, mobilenet, { labelsCsv: csv });
    expect(ds.labelled).toBe(true);
    expect(Array.from(ds.labels)).toEqual([967, 285, 967]);
    expect(ds.description).toMatch(/labels CSV, matched by names/);
    expect(ds.source(1)).toMatch(/flat\/b\.png$/);
  });

  it('labels.csv without a header, naming indices, found in the folder itself', async () => {
    const root = join(dir, 'flat-csv');
    await png(join(root, 'p.png'), solid(28, 28, [10, 10, 10]), 28, 28, 3);
    await png(join(root, 'q.png'), solid(28, 28, [20, 20, 20]), 28, 28, 3);
    await writeFile(join(root, 'labels.csv'), 'q.png,8\np.png,2\n');
    const { ds } = await open(root, digits);
    // CSV order is kept: q (8) then p (2).
    expect(Array.from(ds.labels)).toEqual([8, 2]);
    expect(ds.source(0)).toMatch(/q\.png$/);
    expect(ds.description).toMatch(/matched by indices/);
  });

  it('a CSV naming a missing file fails in one line with the CSV line number', async () => {
    const csv = join(dir, 'missing.csv');
    await writeFile(csv, 'file,label\na.png,espresso\n\nnope.png,espresso\n');
    expect(await failure(flat, mobilenet, { labelsCsv: csv })).toBe(
      `${csv}:4: names a missing file 'nope.png'`,
    );
  });

  it('with no labels: unlabelled, every image read', async () => {
    const { ds } = await open(flat, mobilenet);
    expect(ds.labelled).toBe(false);
    expect(ds.count).toBe(3);
    expect(ds.description).toMatch(/no labels/);
    const set = await readAll(ds);
    expect(set.labelled).toBe(false);
    // a.png is red: at 224×224 (a plain upscale of one colour) every pixel is still (200, 0, 0).
    expect(Array.from(set.images.subarray(0, 3))).toEqual([200, 0, 0]);
    expect(Array.from(set.images.subarray(224 * 224 * 3 - 3, 224 * 224 * 3))).toEqual([200, 0, 0]);
  });

  it('a folder with no images fails in one line', async () => {
    const empty = join(dir, 'no-images');
    await mkdir(join(empty, 'sub'), { recursive: true });
    await writeFile(join(empty, 'readme.txt'), 'no pictures here');
    expect(await failure(empty, mobilenet)).toMatch(new RegExp(`^${empty}: no images found`));
  });
});

describe('unreadable images', () => {
  let root: string;
  let bad: string;
  beforeAll(async () => {
    root = join(dir, 'corrupt');
    await png(join(root, 'espresso/good.png'), solid(30, 30, [90, 50, 20]), 30, 30, 3);
    await png(join(root, 'espresso/good2.png'), solid(30, 30, [90, 50, 20]), 30, 30, 3);
    const whole = await sharp(Buffer.from(solid(30, 30, [1, 2, 3])), {
      raw: { width: 30, height: 30, channels: 3 },
    })
      .png()
      .toBuffer();
    bad = join(root, 'espresso/bad.png');
    // A PNG cut off inside its header chunk.
    await writeFile(bad, whole.subarray(0, 40));
  });

  it('fail by default, naming the file', async () => {
    const msg = await failure(root, mobilenet, {}, true);
    expect(msg.startsWith(bad)).toBe(true);
    expect(msg).toMatch(/--on-corrupt skip/);
  });

  it("are skipped and reported with onCorrupt 'skip'", async () => {
    const { ds, notes } = await open(root, mobilenet, { onCorrupt: 'skip' });
    expect(ds.count).toBe(3);
    const chunk = await ds.read([0, 1, 2]);
    // Sorted: bad.png is image 0.
    expect(Array.from(chunk.indices)).toEqual([1, 2]);
    expect(chunk.set.count).toBe(2);
    expect(chunk.set.images.length).toBe(2 * 224 * 224 * 3);
    expect(ds.skipped.map((s) => s.path)).toEqual([bad]);
    expect(ds.skipped[0].reason).toMatch(/not a readable image|corrupt or truncated/);
    // A second pass over the same files reports the file once, not twice.
    let kept = 0;
    for await (const c of ds.chunks(undefined, 2)) kept += c.set.count;
    expect(kept).toBe(2);
    expect(ds.skipped).toHaveLength(1);
    expect(notes.filter((n) => n.startsWith('skipped:') && n.includes(bad))).toHaveLength(1);
  });
});

describe('photos at the model size', () => {
  /** Fraction of pixels that are mostly blue. */
  const blueFraction = (px: Uint8Array) => {
    let blue = 0;
    for (let i = 0; i < px.length; i += 3) if (px[i + 2] > 128 && px[i] < 128) blue++;
    return blue / (px.length / 3);
  };
  /** Red outer thirds, blue middle third, along the longer side. */
  const thirds = (width: number, height: number) => {
    const d = new Uint8Array(width * height * 3);
    const long = Math.max(width, height);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const t = (width >= height ? x : y) / long;
        d.set(t >= 1 / 3 && t < 2 / 3 ? [0, 0, 255] : [255, 0, 0], (y * width + x) * 3);
      }
    return d;
  };

  let root: string;
  beforeAll(async () => {
    root = join(dir, 'odd-sizes');
    await png(join(root, 'a-wide.png'), thirds(600, 200), 600, 200, 3);
    await png(join(root, 'b-tall.png'), thirds(37, 91), 37, 91, 3);
    await png(join(root, 'c-451x300.png'), thirds(451, 300), 451, 300, 3);
  });

  it("'crop' keeps the centre (shorter side, then the middle); 'fill' squeezes the whole picture", async () => {
    const { ds } = await open(root, mobilenet);
    expect(mobilenet.preprocess.resize).toBe('crop');
    const crop = await readAll(ds);
    const size = 224 * 224 * 3;
    expect(crop.images.length).toBe(3 * size);
    const cropBlue = [0, 1, 2].map((k) => blueFraction(crop.images.subarray(k * size, (k + 1) * size)));
    // 600×200: the central 200×200 is the blue third. 37×91: the central 37 rows hold the 30 blue ones.
    // 451×300: the central 300 columns hold the ~150 blue ones.
    expect(cropBlue[0]).toBeGreaterThan(0.95);
    expect(cropBlue[1]).toBeGreaterThan(0.75);
    expect(cropBlue[1]).toBeLessThan(0.87);
    expect(cropBlue[2]).toBeGreaterThan(0.45);
    expect(cropBlue[2]).toBeLessThan(0.55);

    const filled = await openModel(MOBILENET, { resize: 'fill' });
    const fill = await readAll(await openDataset(root, filled));
    filled.dispose();
    expect(fill.images.length).toBe(3 * size);
    for (let k = 0; k < 3; k++) {
      const f = blueFraction(fill.images.subarray(k * size, (k + 1) * size));
      expect(f).toBeGreaterThan(0.3);
      expect(f).toBeLessThan(0.37);
    }
  });

  it('grey PNGs for an RGB model come out with three equal channels', async () => {
    const root2 = join(dir, 'grey');
    const g = new Uint8Array(50 * 40);
    for (let i = 0; i < g.length; i++) g[i] = (i * 7) % 256;
    await png(join(root2, 'g.png'), g, 50, 40, 1);
    const set = await readAll((await open(root2, mobilenet)).ds);
    expect(set.channels).toBe(3);
    let unequal = 0;
    const distinct = new Set<number>();
    for (let i = 0; i < set.images.length; i += 3) {
      if (set.images[i] !== set.images[i + 1] || set.images[i] !== set.images[i + 2]) unequal++;
      distinct.add(set.images[i]);
    }
    expect(unequal).toBe(0);
    // Not a constant image: the grey pattern survived the resize.
    expect(distinct.size).toBeGreaterThan(50);
  });
});

describe('IDX data and runs', () => {
  it('an image folder written from an IDX set reads back byte-identical, labels included', async () => {
    const test = (await loadDataset('fashion-mnist', { dataDir: DATA, download: false, train: false })).test;
    const n = 40;
    const root = join(dir, 'fashion-png');
    for (let i = 0; i < n; i++)
      await png(
        join(root, String(test.labels[i]), `${String(i).padStart(3, '0')}.png`),
        test.images.subarray(i * 784, (i + 1) * 784),
        28,
        28,
        1,
      );
    const { ds } = await open(root, digits);
    expect(ds.count).toBe(n);
    const set = await readAll(ds);
    // Files come sorted by class folder, then name: map each back to its IDX index by its name.
    let mismatched = 0;
    for (let k = 0; k < n; k++) {
      const i = Number(ds.source(k).match(/(\d{3})\.png$/)![1]);
      expect(set.labels[k]).toBe(test.labels[i]);
      const a = set.images.subarray(k * 784, (k + 1) * 784);
      const b = test.images.subarray(i * 784, (i + 1) * 784);
      for (let p = 0; p < 784; p++) if (a[p] !== b[p]) mismatched++;
    }
    expect(mismatched).toBe(0);
  });

  it("a run with no --dataset gives its held-out data: the test split, or a from-test run's seeded validation split", async () => {
    const standard = await openModel(
      await train(join(dir, 'run-fashion'), 'fashion-mnist', ['--limit', '256', '--val-split', '0.02']),
    );
    const held = await openDataset(undefined, standard, { dataDir: DATA, download: false });
    expect(held.kind).toBe('idx');
    expect(held.count).toBe(10000);
    expect(held.description).toMatch(/fashion-mnist test split \(10,000 images\)/);
    const test = (await loadDataset('fashion-mnist', { dataDir: DATA, download: false, train: false })).test;
    expect(Buffer.compare(Buffer.from(held.whole!.images), Buffer.from(test.images))).toBe(0);
    standard.dispose();

    // mnist in ../shared has only its test split: training split it, and the validation part is held out.
    const fromTest = await openModel(await train(join(dir, 'run-mnist'), 'mnist', ['--limit', '256']));
    const config = fromTest.run!.config;
    expect(config.provenance.split).toBe('from-test');
    const val = await openDataset(undefined, fromTest, { dataDir: DATA, download: false });
    const loaded = await loadDataset('mnist', { dataDir: DATA, download: false });
    const { valIdx } = trainValSplit(loaded, {
      valFraction: config.valFraction,
      seed: config.seed,
      limit: config.limit,
    });
    expect(val.count).toBe(valIdx.length);
    expect(val.count).toBe(config.valCount);
    expect(val.description).toMatch(/held-out validation split/);
    const chunk = await val.read(Array.from({ length: val.count }, (_, i) => i));
    let mismatched = 0;
    for (let k = 0; k < valIdx.length; k++) {
      const i = valIdx[k];
      if (chunk.set.labels[k] !== loaded.test.labels[i]) mismatched++;
      for (let p = 0; p < 784; p++)
        if (chunk.set.images[k * 784 + p] !== loaded.test.images[i * 784 + p]) mismatched++;
    }
    expect(mismatched).toBe(0);
    // Naming the run's own dataset is the same as naming none.
    const named = await openDataset('mnist', fromTest, { dataDir: DATA, download: false });
    expect(named.count).toBe(val.count);
    fromTest.dispose();
  });

  it('a model without a run needs --dataset, in one line', async () => {
    expect(await failure(undefined, digits)).toMatch(
      /^--dataset is required: .*digits is not a training run/,
    );
  });
});

describe('more than 256 classes', () => {
  it('labels up to 299 survive reading and batchIterator as Uint16Array', async () => {
    const root = join(dir, 'wide');
    for (const k of ['0', '150', '299']) await png(join(root, k, 'x.png'), solid(8, 8, [1, 2, 3]), 8, 8, 3);
    const { ds } = await open(root, wide);
    expect(ds.labels).toBeInstanceOf(Uint16Array);
    expect(Array.from(ds.labels)).toEqual([0, 150, 299]);
    const labels: number[] = [];
    let images = 0;
    for await (const chunk of ds.chunks(undefined, 2)) {
      expect(chunk.set.labels).toBeInstanceOf(Uint16Array);
      for (const b of batchIterator(chunk.set, undefined, 2, { preprocess: wide.preprocess })) {
        labels.push(...b.y);
        images += b.size;
      }
    }
    expect(images).toBe(3);
    expect(labels).toEqual([0, 150, 299]);
  });
});
