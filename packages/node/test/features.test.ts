// convlens features: rows equal the layer's output of a direct forward pass (bit-exact) on a pw11 run
// and on MobileNet 0.25 with an image folder; np.load reads the file; shards merge to the one-pass
// folder byte for byte; bad layers, mismatched shards and labels give one line.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFeatures } from '../src/features/read-features.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { extractFeatures, mergeFeatures, openFeatureDataset } from '../src/tasks/features.ts';
import { trainCommand } from '../src/tasks/train.ts';
import { FASHION_CLASSES, writeFashionFolder } from './features-fixture.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const DATASETS = join(SHARED, 'datasets');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');

let root: string;
let run: OpenedModel;

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-features-'));
  await trainCommand(
    {
      model: 'pw11',
      dataset: 'mnist',
      dataDir: DATASETS,
      download: false,
      epochs: 1,
      limit: 600,
      batchSize: 64,
      optimizer: 'adam',
      valSplit: 0.2,
      seed: 1,
      out: join(root, 'run'),
      backend: 'wasm',
    },
    () => {},
  );
  run = await openModel(join(root, 'run'));
}, 120_000);

afterAll(async () => {
  run?.dispose();
  await rm(root, { recursive: true, force: true });
});

/** The layer's output for the whole set in one forward pass, from the model directly. */
async function direct(m: OpenedModel, layer: string, x: Float32Array, n: number): Promise<Float32Array> {
  const net = tf.model({
    inputs: m.model.inputs,
    outputs: m.model.getLayer(layer).output as tf.SymbolicTensor,
  });
  const y = tf.tidy(() => net.predict(tf.tensor4d(x, [n, ...m.inputShape])) as tf.Tensor);
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return v;
}

/** Model input of dataset images 0…n−1, preprocessed as the model expects. */
async function inputs(m: OpenedModel, spec: string, n: number, split?: 'test') {
  const fd = await openFeatureDataset(spec, m, { dataDir: DATASETS, download: false, split });
  const { set } = await fd.data.read(Uint32Array.from({ length: n }, (_, i) => i));
  const { batchIterator } = await import('@convlens/core/data/batches');
  return batchIterator(set, undefined, n, { preprocess: m.preprocess }).next().value!.x;
}

/** Global average in float64, rounded once: what poolRows promises. */
function avgPool(v: Float32Array, n: number, positions: number, c: number): Float32Array {
  const out = new Float32Array(n * c);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let p = 0; p < positions; p++) s += v[(i * positions + p) * c + k];
      out[i * c + k] = s / positions;
    }
  return out;
}

describe('features of a pw11 run', () => {
  it('flatten and avg rows equal the direct forward pass, bit for bit; np.load reads them', async () => {
    const tensors = tf.memory().numTensors;
    const out = join(root, 'pw-pool1');
    const s = await extractFeatures({
      model: run,
      dataset: await openFeatureDataset('mnist', run, { dataDir: DATASETS, split: 'test' }),
      layer: 'pool1',
      pool: 'flatten',
      limit: 100,
      batchSize: 32,
      out,
    });
    expect(s).toMatchObject({
      rows: 100,
      features: 12 * 12 * 64,
      layerShape: [12, 12, 64],
      test: 100,
      train: 0,
    });
    const f = await readFeatures(out);
    const want = await direct(run, 'pool1', await inputs(run, 'mnist', 100, 'test'), 100);
    expect(
      Buffer.from(f.features.buffer, f.features.byteOffset, f.features.byteLength).equals(
        Buffer.from(want.buffer),
      ),
    ).toBe(true);
    expect(f.files.slice(0, 2)).toEqual(['idx:test:0', 'idx:test:1']);
    expect(f.index.model.fingerprint).toMatch(/^[0-9a-f]{8}$/);

    const avg = join(root, 'pw-conv2');
    await extractFeatures({
      model: run,
      dataset: 'mnist',
      openDataset: { dataDir: DATASETS, split: 'test' },
      layer: 'conv2',
      pool: 'avg',
      limit: 40,
      out: avg,
    });
    const g = await readFeatures(avg);
    const conv2 = await direct(run, 'conv2', await inputs(run, 'mnist', 40, 'test'), 40);
    expect(Array.from(g.features)).toEqual(Array.from(avgPool(conv2, 40, 24 * 24, 64)));
    expect(tf.memory().numTensors).toBe(tensors);

    // NumPy reads the file as written (else: the header bytes are NumPy's own).
    const bytes = await readFile(join(out, 'features.npy'));
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
    expect(parseNpy(new Uint8Array(bytes)).shape).toEqual([100, 9216]);
    let py = '';
    try {
      py = execFileSync(
        'python3',
        [
          '-c',
          `import numpy as n;a=n.load('${join(out, 'features.npy')}');print(a.shape,a.dtype,repr(float(a[3,17])))`,
        ],
        { encoding: 'utf8' },
      );
    } catch {
      py = ''; // no python3 + numpy here: the header check above stands
    }
    if (py)
      expect(py.trim()).toBe(
        `(100, 9216) float32 ${Number(f.features[3 * 9216 + 17]).toString() === '0' ? '0.0' : String(f.features[3 * 9216 + 17])}`,
      );
  }, 60_000);

  it('three shards merge to the one-pass folder exactly; a missing, repeated or foreign shard is named', async () => {
    const one = join(root, 'one');
    const base = {
      model: run,
      dataset: 'mnist',
      openDataset: { dataDir: DATASETS, split: 'test' as const },
      layer: 'dense1',
      limit: 50,
    };
    await extractFeatures({ ...base, out: one });
    const shards = [0, 1, 2].map((i) => join(root, `shard${i}`));
    for (const [i, out] of shards.entries())
      await extractFeatures({ ...base, out, shard: { index: i, count: 3 } });
    const merged = join(root, 'merged');
    await mergeFeatures([shards[2], shards[0], shards[1]], merged);
    for (const file of ['features.npy', 'labels.csv'])
      expect((await readFile(join(merged, file))).equals(await readFile(join(one, file)))).toBe(true);
    const a = JSON.parse(await readFile(join(one, 'index.json'), 'utf8'));
    const b = JSON.parse(await readFile(join(merged, 'index.json'), 'utf8'));
    expect(b).toEqual(a);

    await expect(mergeFeatures([shards[0], shards[1]], join(root, 'm2'))).rejects.toThrow(
      /shard\(s\) 3\/3 missing/,
    );
    await expect(mergeFeatures([shards[0], shards[1], shards[1]], join(root, 'm3'))).rejects.toThrow(
      /shard 2\/3 given twice/,
    );
    const other = join(root, 'other');
    await extractFeatures({ ...base, layer: 'conv1', out: other, shard: { index: 2, count: 3 } });
    await expect(mergeFeatures([shards[0], shards[1], other], join(root, 'm4'))).rejects.toThrow(
      new RegExp(`^${other}: cannot merge with ${shards[0]}: layer conv1 ≠ dense1$`),
    );
  }, 60_000);

  it('a layer that does not exist, and labels that do not match the rows: one line', async () => {
    await expect(
      extractFeatures({
        model: run,
        dataset: 'mnist',
        openDataset: { dataDir: DATASETS, split: 'test' },
        layer: 'conv9',
        out: join(root, 'x'),
      }),
    ).rejects.toThrow(/^--layer conv9: no such layer in pw11 \(\d+ layers, e\.g\. conv1, conv2, .*logits/);
    const dir = join(root, 'pw-conv2');
    const csv = await readFile(join(dir, 'labels.csv'), 'utf8');
    await writeFile(join(dir, 'labels.csv'), csv.split('\n').slice(0, -3).join('\n'));
    await expect(readFeatures(dir)).rejects.toThrow(/labels\.csv: 38 rows, but features\.npy has 40/);
  });
});

describe('features of MobileNet 0.25 on an image folder', () => {
  it('rows equal conv_pw_13_relu averaged; labels.csv holds the folder’s own classes and a stratified split', async () => {
    const folder = join(root, 'fashion');
    await writeFashionFolder(DATASETS, folder, 2);
    const m = await openModel(MOBILENET);
    try {
      const out = join(root, 'mn');
      const s = await extractFeatures({
        model: m,
        dataset: folder,
        layer: 'conv_pw_13_relu',
        out,
        batchSize: 8,
        testFraction: 0.5,
      });
      expect(s).toMatchObject({ rows: 20, features: 256, classes: 10, train: 10, test: 10 });
      const f = await readFeatures(out);
      const x = await inputs(m, folder, 20);
      expect(Array.from(f.features)).toEqual(
        Array.from(avgPool(await direct(m, 'conv_pw_13_relu', x, 20), 20, 49, 256)),
      );
      const sorted = [...FASHION_CLASSES].sort();
      expect(f.index.classNames).toEqual(sorted);
      expect(f.files[0]).toBe(`${sorted[0]}/0000.png`);
      expect(f.classes[0]).toBe(sorted[0]);
      // One of the two images of every class is held out.
      for (let k = 0; k < 10; k++)
        expect(f.split.filter((v, i) => v === 'test' && f.labels[i] === k)).toHaveLength(1);
      const csv = await readFile(join(out, 'labels.csv'), 'utf8');
      expect(csv.split('\n')[0]).toBe('index,file,label,class,split');
    } finally {
      m.dispose();
    }
  }, 60_000);
});
