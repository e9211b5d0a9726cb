// The inside-the-network jobs (tasks/) on models and datasets that are not a training run's: stats over
// an image folder equal stats over the same images as IDX (the acceptance test), predicted
// classes for an unlabelled folder, shards of a folder merging to the one-pass result, activations /
// filters / receptive fields of a saved tfjs model, MobileNet's conv_pw_13 receptive field derived from
// its layer list, and the one-line graph-model error.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '@convlens/core/data/idx';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { camHead } from '@convlens/core/models/cam-head';
import { classMeanMatrix } from '@convlens/core/stats/class-means';
import { type DatasetStats, statsFromJSON } from '@convlens/core/stats/dataset-stats';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../src/io/model-io.ts';
import { openDataset } from '../src/open/open-dataset.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { activationsCommand } from '../src/tasks/activations.ts';
import { camHeadCommand } from '../src/tasks/cam-head.ts';
import { filtersCommand } from '../src/tasks/filters.ts';
import { receptiveFieldCommand } from '../src/tasks/receptive-field.ts';
import { statsCommand, statsMergeCommand } from '../src/tasks/stats.ts';
import { quadrantImages } from './cli-helpers.ts';
import { smallLayersModel, writeGraphModel } from './graph-fixture.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');
const COFFEE = join(SHARED, 'images/coffee.png');

const N = 48;
const pad = (i: number) => String(i).padStart(4, '0');

let root: string;
let idxDir: string;
let folder: string;
let flat: string;
let modelDir: string;
let m: OpenedModel;
/** The images in class order (so folder index i is IDX image i) and their labels. */
let images: Uint8Array;
let labels: Uint8Array;

/** conv → pool → conv → flatten → logits → softmax, seeded: a model that is not a run. */
function tinyModel(): tf.LayersModel {
  const seed = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const input = tf.input({ shape: [16, 16, 1] });
  let x = tf.layers
    .conv2d({
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv1',
      kernelInitializer: seed(1),
      biasInitializer: 'glorotUniform',
    })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, activation: 'relu', name: 'conv2', kernelInitializer: seed(2) })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 4, name: 'logits', kernelInitializer: seed(3) }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'softmax', name: 'probs' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'tiny' });
}

const png = (bytes: Uint8Array, path: string) =>
  sharp(Buffer.from(bytes), { raw: { width: 16, height: 16, channels: 1 } })
    .png()
    .toFile(path);

const readStats = async (dir: string): Promise<DatasetStats> =>
  statsFromJSON(JSON.parse(await readFile(join(dir, 'partial.json'), 'utf8')));

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

/** Every statistic of `b` equals `a`'s: counts, class means, mean maps, mode maps, top-k with patches. */
function expectSameStats(a: DatasetStats, b: DatasetStats) {
  expect(b.count).toBe(a.count);
  expect(b.layers.map((l) => l.layer.name)).toEqual(a.layers.map((l) => l.layer.name));
  a.layers.forEach((l, i) => {
    const k = b.layers[i];
    expect(k.means.counts).toEqual(l.means.counts);
    expect(maxDiff(classMeanMatrix(k.means), classMeanMatrix(l.means)), l.layer.name).toBeLessThanOrEqual(
      1e-6,
    );
    expect(!!k.maps).toBe(!!l.maps);
    if (l.maps) expect(maxDiff(k.maps!.sums, l.maps.sums)).toBeLessThanOrEqual(1e-5);
    expect(!!k.modes).toBe(!!l.modes);
    if (l.modes) expect(k.modes!.counts).toEqual(l.modes.counts);
    const top = (s: typeof l) =>
      s.topk.entries.map((e) => e.map((v) => [v.image, v.label, v.y, v.x, v.box, v.value]));
    expect(top(k)).toEqual(top(l));
    const patches = (s: typeof l) => s.topk.entries.map((e) => e.map((v) => Array.from(v.patch ?? [])));
    expect(patches(k)).toEqual(patches(l));
  });
}

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-tasks-inside-'));
  // Quadrant images (noise + one bright quadrant per class), sorted by class.
  const q = quadrantImages(N, 7);
  const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => q.labels[a] - q.labels[b] || a - b);
  images = new Uint8Array(N * 256);
  labels = new Uint8Array(N);
  order.forEach((j, i) => {
    images.set(q.images.subarray(j * 256, (j + 1) * 256), i * 256);
    labels[i] = q.labels[j];
  });
  idxDir = join(root, 'idx');
  await mkdir(idxDir);
  await writeFile(join(idxDir, 't10k-images-idx3-ubyte.gz'), gzipSync(encodeIdx(images, [N, 16, 16])));
  await writeFile(join(idxDir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx(labels, [N])));
  folder = join(root, 'folder');
  flat = join(root, 'flat');
  await mkdir(flat);
  for (let c = 0; c < 4; c++) await mkdir(join(folder, String(c)), { recursive: true });
  for (let i = 0; i < N; i++) {
    const bytes = images.subarray(i * 256, (i + 1) * 256);
    await png(bytes, join(folder, String(labels[i]), `${pad(i)}.png`));
    await png(bytes, join(flat, `${pad(i)}.png`));
  }
  modelDir = join(root, 'model');
  const built = tinyModel();
  await saveModel(built, modelDir);
  built.dispose();
  m = await openModel(modelDir, { preset: 'scale01' });
}, 120_000);

afterAll(async () => {
  m?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('stats over any dataset', () => {
  it('an image folder gives the same statistics as the same images as IDX', async () => {
    const before = tf.memory().numTensors;
    const idx = await openDataset(idxDir, m);
    const dir = await openDataset(folder, m);
    expect([idx.kind, dir.kind, dir.count, dir.labelled]).toEqual(['idx', 'image-folder', N, true]);
    // Batches of 5 split every class into several batches.
    const o = { model: m, out: '', topK: 4, batchSize: 5 };
    const a = await statsCommand({ ...o, dataset: idx, out: join(root, 'stats-idx') });
    const b = await statsCommand({ ...o, dataset: dir, out: join(root, 'stats-folder') });
    expect([a.images, b.images, b.classes, b.labels]).toEqual([N, N, 4, 'dataset']);
    expect(b.layers.map((l) => [l.layer, l.modeMaps])).toEqual([
      ['conv1', true],
      ['pool1', false],
      ['conv2', true],
      ['logits', false],
    ]);
    const [x, y] = [await readStats(join(root, 'stats-idx')), await readStats(join(root, 'stats-folder'))];
    expectSameStats(x, y);
    // Not trivially equal: conv1's class means differ between classes, and the top-k patches are real
    // 3×3 crops of the dataset image named.
    const conv1 = x.layers[0];
    const cm = classMeanMatrix(conv1.means);
    const F = conv1.means.filters;
    expect(maxDiff(cm.subarray(0, F), cm.subarray(F, 2 * F))).toBeGreaterThan(1e-3);
    const e = conv1.topk.entries[0][0];
    expect(e.box.y1 - e.box.y0 + 1).toBeLessThanOrEqual(3);
    const img = images.subarray(e.image * 256, (e.image + 1) * 256);
    const crop: number[] = [];
    for (let yy = e.box.y0; yy <= e.box.y1; yy++)
      for (let xx = e.box.x0; xx <= e.box.x1; xx++) crop.push(img[yy * 16 + xx]);
    expect(Array.from(e.patch!)).toEqual(crop);
    expect(e.label).toBe(labels[e.image]);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('two shards of a folder merge to the one-pass result', async () => {
    const dir = await openDataset(folder, m);
    const o = { model: m, dataset: dir, topK: 4, batchSize: 5 };
    await statsCommand({ ...o, shard: { index: 0, count: 2 }, out: join(root, 's1') });
    await statsCommand({ ...o, shard: { index: 1, count: 2 }, out: join(root, 's2') });
    const merged = await statsMergeCommand([join(root, 's1'), join(root, 's2')], { out: join(root, 'sm') });
    expect(merged.shards).toBe('1,2/2');
    expectSameStats(await readStats(join(root, 'stats-folder')), await readStats(join(root, 'sm')));
  }, 120_000);

  it("an unlabelled folder's classes are the model's predicted classes", async () => {
    const dir = await openDataset(flat, m);
    expect(dir.labelled).toBe(false);
    const s = await statsCommand({ model: m, dataset: dir, topK: 2, out: join(root, 'stats-flat') });
    expect(s.labels).toBe('predicted');
    const predicted = tf.tidy(() =>
      tf.argMax(m.model.predict(tf.tensor4d(images, [N, 16, 16, 1]).div(255)) as tf.Tensor, 1).arraySync(),
    ) as number[];
    const histogram = [0, 1, 2, 3].map((c) => predicted.filter((p) => p === c).length);
    const stats = await readStats(join(root, 'stats-flat'));
    expect(stats.layers[0].means.counts).toEqual(histogram);
    const index = JSON.parse(await readFile(join(root, 'stats-flat', 'index.json'), 'utf8'));
    expect(index.classes).toMatch(/predicted class/);
    // Top-k labels are the predicted classes too.
    for (const list of stats.layers[0].topk.entries)
      for (const e of list) expect(e.label).toBe(predicted[e.image]);
  }, 120_000);
});

describe('activations, filters and receptive fields of a model that is not a run', () => {
  it('activations of an image file: the logits are the model’s own on that image', async () => {
    const out = join(root, 'act');
    const before = tf.memory().numTensors;
    const r = await activationsCommand({
      model: m,
      input: { image: join(folder, '2', `${pad(30)}.png`) },
      out,
    });
    expect(r.layers.map((l) => l.layer)).toEqual(['conv1', 'pool1', 'conv2', 'logits']);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    const logits = index.files.find((f: any) => f.layer === 'logits').values as number[];
    const head = tf.model({
      inputs: m.model.inputs,
      outputs: m.model.getLayer('logits').output as tf.SymbolicTensor,
    });
    const want = tf.tidy(() =>
      (
        head.predict(tf.tensor4d(images.subarray(30 * 256, 31 * 256), [1, 16, 16, 1]).div(255)) as tf.Tensor
      ).arraySync(),
    ) as number[][];
    expect(maxDiff(logits, want[0])).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
    // The same image by dataset index carries its label.
    const byIndex = await activationsCommand({
      model: m,
      input: { dataset: await openDataset(idxDir, m), index: 30 },
      out: join(root, 'act-idx'),
      layers: ['logits'],
    });
    expect(byIndex.label).toBe(labels[30]);
    const again = JSON.parse(await readFile(join(root, 'act-idx', 'index.json'), 'utf8'));
    expect(again.files.find((f: any) => f.layer === 'logits').values).toEqual(logits);
  }, 60_000);

  it('filters on the shared symmetric scale, and receptive fields from the layer geometry', async () => {
    const r = await filtersCommand({ model: m, out: join(root, 'filters') });
    expect(r.layers.map((l) => [l.layer, l.filters, l.kernel])).toEqual([
      ['conv1', 6, '3×3×1'],
      ['conv2', 8, '3×3×6'],
    ]);
    const w = m.model.getLayer('conv1').getWeights()[0].dataSync();
    expect(r.layers[0].range.max).toBeCloseTo(Math.max(...Array.from(w, Math.abs)), 6);
    expect(r.layers[0].range.min).toBe(-r.layers[0].range.max);
    const rf = await receptiveFieldCommand({ model: m });
    const byName = Object.fromEntries(rf.layers.map((f) => [f.layer, f]));
    // conv1 3×3 → size 3; pool 2 → 4, jump 2; conv2 3×3 at jump 2 → 4 + 2·2 = 8.
    expect(byName.conv2.rows).toMatchObject({ size: 8, jump: 2 });
    expect(byName.logits.global).toBe(true);
  }, 60_000);

  it('a graph model: one line saying there are no layers to show', async () => {
    const g = join(root, 'graph');
    const small = smallLayersModel([8, 8, 1]);
    await writeGraphModel(small, g);
    small.dispose();
    const gm = await openModel(join(g, 'model.json'), { preset: 'scale01' });
    try {
      expect(gm.graph).toBe(true);
      const msg = /graph model: no layers to show; import it as a layers model$/;
      await expect(receptiveFieldCommand({ model: gm })).rejects.toThrow(msg);
      await expect(filtersCommand({ model: gm, out: join(root, 'g1') })).rejects.toThrow(msg);
      await expect(
        activationsCommand({
          model: gm,
          input: { image: join(flat, `${pad(0)}.png`) },
          out: join(root, 'g2'),
        }),
      ).rejects.toThrow(msg);
      expect(existsSync(join(root, 'g1')) || existsSync(join(root, 'g2'))).toBe(false);
    } finally {
      gm.dispose();
    }
  }, 60_000);
});

describe('cam-head on a model that is not a run', () => {
  it('trains a GAP head on a labelled folder and writes a model folder that opens with its classes', async () => {
    const dir = await openDataset(folder, m);
    const out = join(root, 'cam');
    const s = await camHeadCommand({ model: m, dataset: dir, layer: 'conv2', epochs: 2, batchSize: 8, out });
    // 20% of 48 held out; the head is trained on the other 38.
    expect(s).toMatchObject({ kind: 'model', layer: 'conv2', epochs: 2, set: 'held-out', count: 10 });
    const gap = await openModel(out);
    try {
      expect(gap.kind).toBe('imported');
      expect(gap.preprocess.preset).toBe('scale01');
      expect(camHead(gap.model).featureLayer.name).toBe('conv2');
      // The base was frozen: conv2's weights are the original's; the head trained: its loss fell.
      const w0 = m.model.getLayer('conv2').getWeights()[0].dataSync();
      const w1 = gap.model.getLayer('conv2').getWeights()[0].dataSync();
      expect(maxDiff(w1, w0)).toBe(0);
      const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
      expect(history.records.map((r: any) => r.epoch)).toEqual([1, 2]);
      expect(history.records[1].loss).toBeLessThan(history.records[0].loss);
      const info = JSON.parse(await readFile(join(out, 'model.json'), 'utf8')).userDefinedMetadata.camHead;
      expect(info).toMatchObject({ layer: 'conv2', accuracy: s.accuracy, baseAccuracy: s.baseAccuracy });
    } finally {
      gap.dispose();
    }
    await expect(camHeadCommand({ model: m, dataset: dir, epochs: 1, out })).rejects.toThrow(
      /already holds a model \(use --force/,
    );
    await expect(camHeadCommand({ model: m, epochs: 1, out: join(root, 'cam2') })).rejects.toThrow(
      /is not a training run: give --dataset/,
    );
  }, 120_000);
});

describe.skipIf(!existsSync(join(MOBILENET, 'model.json')))('MobileNet v1 0.25', () => {
  it("conv_pw_13's receptive field follows from the layer list (depthwise, 'same', stride 2)", async () => {
    // The recurrence over model.json's own layer list: size += (k − 1)·jump, jump ·= stride.
    const topology = JSON.parse(await readFile(join(MOBILENET, 'model.json'), 'utf8')).modelTopology;
    const layers = (topology.model_config ?? topology).config.layers as { class_name: string; config: any }[];
    let size = 1;
    let jump = 1;
    let kernels = 0;
    for (const l of layers) {
      const k = l.config.kernel_size;
      if (k) {
        size += (k[0] - 1) * jump;
        jump *= l.config.strides[0];
        kernels++;
      }
      if (l.config.name === 'conv_pw_13') break;
    }
    expect(kernels).toBe(27); // conv1 + 13 depthwise + 13 pointwise
    const mn = await openModel(MOBILENET);
    try {
      const rf = await receptiveFieldCommand({ model: mn });
      const f = rf.layers.find((x) => x.layer === 'conv_pw_13')!;
      expect(f.rows).toMatchObject({ size, jump });
      expect(f.cols).toMatchObject({ size, jump });
      expect(f.outSize).toEqual([7, 7]);
    } finally {
      mn.dispose();
    }
  }, 60_000);

  it.skipIf(!existsSync(COFFEE))(
    'activations default to a sample of layers and channels; espresso tops conv_preds',
    async () => {
      const mn = await openModel(MOBILENET);
      try {
        const r = await activationsCommand({
          model: mn,
          input: { image: COFFEE },
          out: join(root, 'act-mn'),
        });
        expect(r.layers.length).toBe(8);
        expect(r.omitted.length).toBeGreaterThan(15);
        expect(r.layers[0].layer).toBe('conv1');
        const preds = r.layers.at(-1)!;
        expect(preds.layer).toBe('conv_preds');
        expect(mn.classNames[preds.top]).toMatch(/espresso/);
        const index = JSON.parse(await readFile(join(root, 'act-mn', 'index.json'), 'utf8'));
        for (const f of index.files.filter((x: any) => x.kind === 'feature-maps'))
          expect(f.filters.length, f.layer).toBeLessThanOrEqual(32);
      } finally {
        mn.dispose();
      }
    },
    120_000,
  );
});
